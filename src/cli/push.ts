import { Command, InvalidArgumentError, Option } from 'commander';
import { isvConfig } from '../config/load.ts';
import { push, type PushReport } from '../publish/push.ts';
import { ExitCode } from '../errors.ts';
import { defaultDigestCacheDir } from '../image/digest-cache.ts';
import { LIMITS_VARIABLE, parseLimits } from '../image/limits.ts';
import { defaultJournalDir } from '../storage/journal.ts';
import { barProgress, downloadBar, formatBytes, lineProgress } from './progress.ts';
import { runCommand, type GlobalOptions, type Io } from './run.ts';

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('expected a whole number from 1 to 64');
  return n;
};


function human(report: PushReport): string {
  const sent = report.uploaded.filter((o) => o.copiedFrom === undefined);
  const bytes = sent.reduce((sum, o) => sum + o.size, 0);
  const copied = report.uploaded.length - sent.length;
  const lines = [
    `${report.dryRun ? 'Would publish' : 'Published'} ${report.image} for ${report.isv} from ${report.archive.origin} (${report.archive.format})`,
    report.distribution
      ? `  storage:  ${report.storage}  (the Distribution layout, for a stock registry)`
      : `  storage:  ${report.storage}  (clients fetch ${report.url})`,
    `  objects:  ${sent.length} ${report.dryRun ? 'to upload' : 'uploaded'} (${formatBytes(bytes)}), ${copied} ${report.dryRun ? 'to copy' : 'copied'} from other apps, ${report.present.length} already there, ${report.masked.length} layers masked`,
    ...(report.v2 ? [`  v2:       ${report.v2.uploaded.length} ${report.dryRun ? 'to write' : 'written'} (${report.v2.uploaded.filter((o) => o.copied).length} copied from v1 layers), ${report.v2.present.length} already there  (clients fetch ${report.v2.url})`] : []),
    `  tags:     ${Object.keys(report.tags).map((tag) => (report.distribution?.manifests[tag] ? `${tag} (${report.distribution.manifests[tag]})` : tag)).join(', ')}`,
  ];
  if (report.metadata) {
    lines.push(`  crane:    ${report.metadata.file} ${report.metadata.changed ? `committed ${report.metadata.commit?.slice(0, 12)}` : 'unchanged'} in ${report.metadata.remote}`);
  }
  if (report.backup) lines.push(`  backup:   ${report.backup.commit ? `committed ${report.backup.commit.slice(0, 12)}` : 'nothing to commit'} in the configuration repository`);
  lines.push(`docker pull ${report.pull}`);
  return `${lines.join('\n')}\n`;
}

export function registerPush(program: Command, io: Io): void {
  program
    .command('push')
    .description('publish an image: upload its layers, deploy Crane metadata, back up to the config repository')
    .argument('<isv>', 'the ISV (a section of raas.cfg)')
    .argument('<image>', 'repository name, "name" or "namespace/name"')
    .option('--file <path|url>', 'the archive (Pulp export, docker save or OCI archive; plain or gzip); default ./<image>.tar, then [pulp] export_url')
    .option('--tag <tag>', "publish under this tag too, beside the archive's own tags (needed when the archive names none)")
    .addOption(new Option('--only-tag <tag>', "publish under this tag only, not the archive's own tags (for CI naming its release)").conflicts('tag'))
    .option('--dry-run', 'validate everything and report what would be uploaded; write nothing')
    .option('-j, --jobs <n>', 'objects and parts in flight (default: [aws] max_concurrency)', positiveInt)
    .option('--rehash', 'read every layer again, not trusting digests cached from earlier pushes of the same archive file')
    .addHelpText('after', "\nTags: the archive's own tags are published, and --tag adds one more; --only-tag publishes that tag alone.\nEarlier tags stay published either way. --tag and --only-tag exclude each other.")
    .action(async (isvName: string, image: string, options: { file?: string; tag?: string; onlyTag?: string; dryRun?: boolean; jobs?: number; rehash?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      io.exitCode = await runCommand(io, globals, 'push', async (ctx) => {
        const isv = isvConfig(ctx.config, isvName);
        const showBars = Boolean(io.stderr.isTTY) && !globals.json && ['info', 'debug', 'trace'].includes(globals.logLevel);
        const bars = showBars ? barProgress(io.stderr) : undefined;
        const download = showBars ? downloadBar(io.stderr) : undefined;
        try {
          const report = await push({
            config: ctx.config, isv, image, file: options.file, tag: options.tag, onlyTag: options.onlyTag, dryRun: Boolean(options.dryRun),
            jobs: options.jobs ?? ctx.config.aws.maxConcurrency, commit: globals.commit && !options.dryRun,
            cwd: io.cwd, workDir: ctx.workDir, runLog: ctx.runLog, logger: ctx.logger, signal: ctx.signal, configRepo: ctx.configRepo,
            progress: { upload: bars ?? lineProgress(ctx.logger), ...(download ? { download } : {}) },
            limits: parseLimits(io.env[LIMITS_VARIABLE]), journalDir: defaultJournalDir(io.env),
            ...(options.rehash ? {} : { digestCacheDir: defaultDigestCacheDir(io.env) }),
          });
          return { exitCode: ExitCode.ok, human: human(report), terse: `${report.pull}\n`, json: { ok: true, ...report } };
        } finally {
          download?.stop();
          bars?.end?.();
        }
      });
    });
}
