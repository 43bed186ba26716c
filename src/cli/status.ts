import { Command } from 'commander';
import { isvConfig } from '../config/load.ts';
import { ExitCode } from '../errors.ts';
import type { Check } from '../status/checks.ts';
import { status, type StatusReport } from '../status/status.ts';
import { runCommand, type GlobalOptions, type Io } from './run.ts';

const LABELS = { ok: 'ok', warning: 'warning', failed: 'FAILED' } as const;

/** Problems in full; checks that passed counted by kind, so a large registry's report stays short. */
function human(report: StatusReport): string {
  const { summary } = report;
  const lines = [`Status of ${report.isv}${report.image ? ` ${report.image}` : ''}: ${summary.failed} failed, ${summary.warning} warnings, ${summary.ok} ok`];
  for (const c of report.checks.filter((c) => c.outcome !== 'ok')) lines.push(`  ${LABELS[c.outcome].padEnd(7)}  ${c.check} ${c.subject}: ${c.detail}`);
  const passed = new Map<string, Check[]>();
  for (const c of report.checks.filter((c) => c.outcome === 'ok')) passed.set(c.check, [...(passed.get(c.check) ?? []), c]);
  for (const [name, checks] of passed) {
    const only = checks.length === 1 ? checks[0]! : undefined;
    lines.push(`  ${'ok'.padEnd(7)}  ${name} ${only ? `${only.subject}: ${only.detail}` : `(${checks.length})`}`);
  }
  if (report.images.length > 0) {
    lines.push(report.image ? 'Image:' : 'Published images:');
    const width = Math.max(...report.images.map((i) => i.image.length));
    for (const i of report.images) lines.push(`  ${i.image.padEnd(width)}  ${i.tags.join(', ') || '(no tags)'}  docker pull ${i.pull}`);
  } else if (!report.image) {
    lines.push('No images published yet.');
  }
  if (!report.ok && summary.failed === 0) lines.push('Warnings fail with --strict.');
  return `${lines.join('\n')}\n`;
}

export function registerStatus(program: Command, io: Io): void {
  program
    .command('status')
    .description("check an ISV's registry: platform, storage, Crane metadata, objects, backup, registry; list published images")
    .argument('<isv>', 'the ISV (a section of raas.cfg)')
    .argument('[image]', 'check only this image ("name" or "namespace/name")')
    .option('--strict', 'exit 1 on warnings too (orphaned objects, missing backups, ...)')
    .addHelpText('after', '\nChecks are reported as ok, warning or failed; --json prints every check. Status changes neither the bucket nor the app.')
    .action(async (isvName: string, image: string | undefined, options: { strict?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      io.exitCode = await runCommand(io, globals, 'status', async (ctx) => {
        const report = await status({
          config: ctx.config, isv: isvConfig(ctx.config, isvName), image, strict: Boolean(options.strict), commit: globals.commit,
          workDir: ctx.workDir, runLog: ctx.runLog, logger: ctx.logger, signal: ctx.signal, configRepo: ctx.configRepo,
        });
        const terse = report.images.map((i) => `${i.pull}\n`).join('');
        return { exitCode: report.ok ? ExitCode.ok : ExitCode.failed, human: human(report), terse, json: report };
      });
    });
}
