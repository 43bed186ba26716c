import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../errors.ts';
import { LOG_LEVELS } from '../log.ts';
import { registerPush } from './push.ts';
import { registerRegistryConfig } from './registry-config.ts';
import { registerServe } from './serve.ts';
import { registerSetup } from './setup.ts';
import { registerStatus } from './status.ts';
import type { Io } from './run.ts';

const EXIT_CODES = `
Exit codes:
  0  done (push: published; setup: every step done or already there;
     status: no check failed, and with --strict none warned;
     serve: stopped by SIGTERM/SIGINT)
  1  the operation failed (storage, git, platform, a setup step or a status check)
  2  usage, configuration or input error (nothing was changed)
  130/143  interrupted by SIGINT/SIGTERM (nothing half-published)`;

const version = (): string =>
  (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function buildProgram(io: Io): Command {
  const program = new Command('raas')
    .description('Registry as a service: publish container images to per-ISV registries (object storage + Crane)')
    .version(version(), '-V, --version')
    .option('-c, --config-branch <branch>', 'branch of the configuration repository (RAAS_CONF_REPO)', 'stage')
    .option('--config <dir>', 'use raas.cfg in this directory (default: current directory, then RAAS_CONF_REPO)')
    .option('-n, --no-commit', 'leave the configuration repository alone (no log, no metadata backup)')
    .addOption(new Option('-l, --log-level <level>', 'how much progress to show on stderr').choices(LOG_LEVELS).default('info'))
    .option('-t, --terse', 'print only the docker pull reference(s)')
    .option('--json', 'print one JSON result object on stdout')
    .showHelpAfterError('(run with --help for usage)')
    // Each command's --help lists the global options too (inherited by the commands registered below).
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', EXIT_CODES)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  registerSetup(program, io);
  registerPush(program, io);
  registerStatus(program, io);
  registerServe(program, io);
  registerRegistryConfig(program, io);
  for (const command of program.commands) command.exitOverride().addHelpText('after', EXIT_CODES);
  return program;
}

export interface MainIo extends Partial<Io> {}

/** Run the CLI; returns the exit code instead of exiting so tests and embedders can call it. */
export async function main(argv: string[], overrides: MainIo = {}): Promise<number> {
  const io: Io = {
    stdout: overrides.stdout ?? process.stdout,
    stderr: overrides.stderr ?? process.stderr,
    env: overrides.env ?? process.env,
    cwd: overrides.cwd ?? process.cwd(),
    exitCode: ExitCode.ok,
  };
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return io.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end through the same path as a usage error; only the latter is one.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    throw error;
  }
}
