import { Command, InvalidArgumentError, Option } from 'commander';
import { isvConfig } from '../config/load.ts';
import { ConfigError, ExitCode } from '../errors.ts';
import { counted, describeSummary, type Check } from '../status/checks.ts';
import { fleetStatus, type FleetReport } from '../status/fleet.ts';
import { status, type StatusReport } from '../status/status.ts';
import { runCommand, type GlobalOptions, type Io } from './run.ts';

const LABELS = { ok: 'ok', warning: 'warning', failed: 'FAILED' } as const;
const DEFAULT_JOBS = 4;

/** Problems in full; checks that passed counted by kind, so a large registry's report stays short. */
function human(report: StatusReport): string {
  const lines = [`Status of ${report.isv}${report.image ? ` ${report.image}` : ''}: ${describeSummary(report.summary)}`];
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
  if (!report.ok && report.summary.failed === 0) lines.push('Warnings fail with --strict.');
  return `${lines.join('\n')}\n`;
}

/** One line per ISV (its verdict, images, first problem), then the total. */
function fleetHuman(report: FleetReport): string {
  const width = Math.max(3, ...report.lines.map((l) => l.isv.length));
  const lines = report.lines.map((l) => {
    const verdict = l.outcome === 'ok' ? 'ok' : l.outcome === 'warning' ? counted(l.summary.warning, 'warning') : `FAILED (${describeSummary(l.summary).replace(/, \d+ ok$/, '')})`;
    const first = l.first ? `  ${l.first.check} ${l.first.subject}: ${l.first.detail.split('\n')[0]}` : '';
    return `  ${l.isv.padEnd(width)}  ${counted(l.images, 'image').padEnd(10)}  ${verdict}${first}`;
  });
  const { isvs } = report;
  lines.push(`Total: ${counted(report.lines.length, 'ISV')}, ${counted(report.images, 'image')}: ${isvs.failed} failed, ${isvs.warning} with warnings, ${isvs.ok} ok`);
  if (report.log) lines.push(`  ${LABELS.warning}  ${report.log.check} ${report.log.subject}: ${report.log.detail}`);
  if (!report.ok && isvs.failed === 0) lines.push('Warnings fail with --strict.');
  return `${lines.join('\n')}\n`;
}

const jobsOption = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('expected a whole number from 1 to 64');
  return n;
};

interface StatusOptions {
  strict?: boolean;
  all?: boolean;
  jobs?: number;
}

export function registerStatus(program: Command, io: Io): void {
  program
    .command('status')
    .description("check an ISV's registry (or every ISV's): platform, storage, Crane metadata, objects, backup, registry; list published images")
    .argument('[isv]', 'the ISV (a section of raas.cfg); none, or --all: every ISV')
    .argument('[image]', 'check only this image ("name" or "namespace/name")')
    .option('--strict', 'exit 1 on warnings too (orphaned objects, missing backups, ...)')
    .option('--all', 'check every ISV of raas.cfg (the default when no ISV is named)')
    .addOption(new Option('-j, --jobs <n>', 'ISVs checked at once with --all').argParser(jobsOption).default(DEFAULT_JOBS))
    .addHelpText('after', [
      '',
      'Checks are reported as ok, warning or failed; --json prints every check. Status changes neither the bucket nor the app.',
      'Over every ISV: one line per ISV (ok, its warnings, or FAILED with the first failure) and a total; --terse prints',
      'every ISV\'s docker pull references; --json one object with every ISV\'s report; one log for the run is appended',
      'to the configuration repository (_fleet/logs/). Exit 1 when any ISV failed (--strict: or warned).',
    ].join('\n'))
    .action(async (isvName: string | undefined, image: string | undefined, options: StatusOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (options.all && isvName !== undefined) command.error(`error: --all checks every ISV; name no ISV with it (got '${isvName}')`);
      io.exitCode = await runCommand(io, globals, 'status', async (ctx) => {
        const strict = Boolean(options.strict);
        if (isvName === undefined) {
          if (ctx.config.isvs.size === 0) throw new ConfigError('raas.cfg has no ISV sections to check', { where: ctx.config.file, fix: 'add an ISV section (see raas.cfg.template), or run raas setup <isv>' });
          const report = await fleetStatus({
            config: ctx.config, strict, commit: globals.commit, jobs: options.jobs ?? DEFAULT_JOBS,
            workDir: ctx.workDir, runLog: ctx.runLog, logger: ctx.logger, signal: ctx.signal, configRepo: ctx.configRepo,
          });
          const terse = report.reports.flatMap((r) => r.images.map((i) => `${i.pull}\n`)).join('');
          const { lines: _lines, ...json } = report;
          return { exitCode: report.ok ? ExitCode.ok : ExitCode.failed, human: fleetHuman(report), terse, json };
        }
        const report = await status({
          config: ctx.config, isv: isvConfig(ctx.config, isvName), image, strict, commit: globals.commit,
          workDir: ctx.workDir, runLog: ctx.runLog, logger: ctx.logger, signal: ctx.signal, configRepo: ctx.configRepo,
        });
        const terse = report.images.map((i) => `${i.pull}\n`).join('');
        return { exitCode: report.ok ? ExitCode.ok : ExitCode.failed, human: human(report), terse, json: report };
      });
    });
}
