import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config/load.ts';
import { CONFIG_FILE, locateConfig } from '../config/locate.ts';
import type { Config } from '../config/config.ts';
import { openConfigRepo, type ConfigRepo } from '../configrepo/repo.ts';
import { ExitCode, RaasError } from '../errors.ts';
import { createLogger, scrub, type Logger, type LogLevel } from '../log.ts';
import { processAlive } from '../process-alive.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';

/** What a command may touch of the process: injected so tests can run commands in-process. */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Set by the command that ran. */
  exitCode: ExitCode | 130 | 143;
}

export interface GlobalOptions {
  readonly configBranch: string;
  readonly config: string | undefined;
  readonly commit: boolean;
  readonly logLevel: LogLevel;
  readonly terse: boolean | undefined;
  readonly json: boolean | undefined;
}

export interface RunContext {
  readonly io: Io;
  readonly globals: GlobalOptions;
  readonly logger: Logger;
  /** raas's own temporary directory; removed when the command ends, whatever happened. */
  readonly workDir: string;
  /** The run's JSON-lines log (debug level), appended to the configuration repository. */
  readonly runLog: string;
  readonly signal: AbortSignal;
  readonly config: Config;
  readonly configRepo: ConfigRepo;
}

/** A command's outcome: what to print, and the exit code it implies. */
export interface CommandResult {
  readonly exitCode: ExitCode;
  readonly human: string;
  readonly terse: string;
  readonly json: unknown;
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** Marks a run's temporary directory with "<pid> <host>", so a later run can tell it was abandoned. */
const RUN_MARKER = '.raas-run';

/**
 * A run killed outright (SIGKILL, a crash, a power cut) cannot remove its temporary
 * directory, which may hold a decompressed archive. Every run removes those of runs on
 * this host whose process is gone; directories without the marker are never touched.
 */
async function removeAbandonedWorkDirs(tmp: string, logger: Logger): Promise<void> {
  const names = await readdir(tmp).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names.filter((n) => n.startsWith('raas-'))) {
    const dir = path.join(tmp, name);
    const owner = await readFile(path.join(dir, RUN_MARKER), 'utf8').catch(() => undefined);
    const [pid, host] = owner?.trim().split(' ') ?? [];
    if (!pid || host !== os.hostname() || processAlive(Number(pid))) continue;
    try {
      await rm(dir, { recursive: true, force: true });
      removed += 1;
    } catch (error) {
      logger.debug({ err: error }, `cannot remove ${dir}, left by raas process ${pid}`);
    }
  }
  if (removed > 0) logger.debug(`removed ${removed} temporary director${removed === 1 ? 'y' : 'ies'} of raas runs that were killed`);
}

/**
 * The lifecycle every command shares: a private temporary directory, the logger, signal
 * handling, configuration loaded and validated once, the result printed in the requested
 * form, and errors turned into a clear message and an exit code.
 */
export async function runCommand(
  io: Io,
  globals: GlobalOptions,
  name: string,
  body: (ctx: RunContext) => Promise<CommandResult>,
  /**
   * A server (raas serve): it runs until a signal, which is how it ends normally; it keeps
   * no run log (it would grow for as long as it runs) and prints its results itself.
   */
  options: { readonly server?: boolean } = {},
): Promise<Io['exitCode']> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'raas-'));
  await writeFile(path.join(workDir, RUN_MARKER), `${process.pid} ${os.hostname()}\n`);
  const runLog = path.join(workDir, 'run.log');
  const logger = createLogger({ level: globals.logLevel, terminal: io.stderr, ...(options.server ? {} : { file: runLog }) });
  const controller = new AbortController();
  let caught: keyof typeof SIGNAL_EXIT | undefined;
  const onSignal = (signal: keyof typeof SIGNAL_EXIT) => {
    if (caught) process.exit(SIGNAL_EXIT[signal]); // a second signal: stop now
    caught = signal;
    logger.warn(options.server ? `${signal}: stopping` : `${signal}: stopping; nothing is published half-way`);
    controller.abort(new Error(signal));
  };
  const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT).on('SIGTERM', handlers.SIGTERM);

  try {
    logger.debug({ command: name, argv: process.argv.slice(2) }, `raas ${name}`);
    await removeAbandonedWorkDirs(os.tmpdir(), logger);
    const source = locateConfig({ configDir: globals.config, cwd: io.cwd, env: io.env, branch: globals.configBranch });
    const configRepo = await openConfigRepo({
      ...(source.kind === 'dir' ? { dir: source.dir } : { url: source.url }),
      branch: globals.configBranch,
      workDir: path.join(workDir, 'config'),
      logger,
      signal: controller.signal,
    });
    // A clone holds whatever was pushed to the repository: raas.cfg is read as a file inside it.
    const clone = configRepo.cloned ? { clone: new WorktreeFiles(configRepo.dir, 'configuration repository') } : {};
    const config = await loadConfig(path.join(configRepo.dir, CONFIG_FILE), io.env, clone);
    const result = await body({ io, globals, logger, workDir, runLog, signal: controller.signal, config, configRepo });
    const text = globals.json ? (result.json === undefined ? '' : `${JSON.stringify(result.json, null, 2)}\n`) : globals.terse ? result.terse : result.human;
    if (text) io.stdout.write(scrub(text));
    return result.exitCode;
  } catch (error) {
    if (caught) {
      logger.debug({ err: error }, 'interrupted');
      if (globals.json) io.stdout.write(`${JSON.stringify({ ok: false, error: `interrupted by ${caught}` }, null, 2)}\n`);
      return SIGNAL_EXIT[caught];
    }
    const known = error instanceof RaasError;
    const message = known ? error.describe() : `internal error: ${(error as Error)?.stack ?? String(error)}`;
    logger.debug({ err: error }, 'failed');
    io.stderr.write(`raas ${name}: ${scrub(message)}\n`);
    if (globals.json) io.stdout.write(`${scrub(JSON.stringify({ ok: false, error: message }, null, 2))}\n`);
    return known ? error.exitCode : ExitCode.failed;
  } finally {
    process.off('SIGINT', handlers.SIGINT).off('SIGTERM', handlers.SIGTERM);
    logger.flush();
    await rm(workDir, { recursive: true, force: true });
    // A process that a stopped git started can outlive it and hold its pipes open (the
    // server side of a push to a local repository, waiting in a hook): that must not keep
    // an interrupted raas running. Unreferenced, so a clean exit is not delayed.
    if (caught && !options.server) setTimeout(() => process.exit(SIGNAL_EXIT[caught!]), 500).unref();
  }
}
