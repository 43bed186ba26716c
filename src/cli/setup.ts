import { Command, Option } from 'commander';
import { GEAR_SIZES, type GearSize } from '../config/config.ts';
import { ExitCode } from '../errors.ts';
import { setup, type SetupReport, type StepStatus } from '../setup/setup.ts';
import { runCommand, type GlobalOptions, type Io } from './run.ts';

const LABELS: Record<StepStatus, string> = {
  done: 'done', present: 'already there', ok: 'ok', warning: 'warning', failed: 'FAILED', skipped: 'skipped',
};

function human(report: SetupReport): string {
  const width = Math.max(...report.steps.map((s) => LABELS[s.status].length));
  const lines = report.steps.flatMap((s) => [
    `  ${LABELS[s.status].padEnd(width)}  ${s.step}${s.detail ? `: ${s.detail}` : ''}`,
    ...(s.fix ? [`  ${''.padEnd(width)}    fix: ${s.fix}`] : []),
  ]);
  const verdict = !report.ok
    ? `Setup of ${report.isv} did not finish: see FAILED above.`
    : report.changed ? `Set up ${report.isv}'s registry at ${report.registry}.` : `Nothing to change: ${report.isv}'s registry at ${report.registry} was already set up.`;
  const unsaved = report.unsavedSection ? ['', 'Add to raas.cfg:', report.unsavedSection.trimEnd()] : [];
  return `${[`Setting up ${report.isv}:`, ...lines, ...unsaved, verdict].join('\n')}\n`;
}

interface SetupOptions {
  create?: boolean;
  s3bucket?: string;
  oodomain?: string;
  ooapp?: string;
  oonoscale?: boolean;
  oogearsize?: GearSize;
}

export function registerSetup(program: Command, io: Io): void {
  program
    .command('setup')
    .description("bring up an ISV's registry: bucket, Crane app, base-image metadata, registry check, configuration section")
    .argument('<isv>', 'the ISV (a section of raas.cfg; made from the options when missing)')
    .option('--create', 'create the bucket (or storage directory) and the OpenShift domain when missing')
    .option('--s3bucket <bucket>', "the ISV's bucket (s3_bucket); needed to create a missing section")
    .option('--oodomain <domain>', 'OpenShift domain (openshift_domain; default: the ISV)')
    .option('--ooapp <app>', 'OpenShift app name (openshift_app; default: registry)')
    .option('--oonoscale', 'create the app without scaling (openshift_scale = false)')
    .addOption(new Option('--oogearsize <size>', 'gear size of the app (openshift_gear_size; default: small)').choices(GEAR_SIZES))
    .addHelpText('after', '\nOptions that disagree with an existing section are reported and change nothing.')
    .action(async (isvName: string, options: SetupOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      io.exitCode = await runCommand(io, globals, 'setup', async (ctx) => {
        const report = await setup({
          config: ctx.config, isvName, create: Boolean(options.create), commit: globals.commit, env: io.env,
          flags: { bucket: options.s3bucket, domain: options.oodomain, app: options.ooapp, noScale: Boolean(options.oonoscale), gearSize: options.oogearsize },
          workDir: ctx.workDir, runLog: ctx.runLog, logger: ctx.logger, signal: ctx.signal, configRepo: ctx.configRepo,
        });
        return { exitCode: report.ok ? ExitCode.ok : ExitCode.failed, human: human(report), terse: `${report.registry}\n`, json: report };
      });
    });
}
