import { once } from 'node:events';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isvConfig } from '../config/load.ts';
import { ExitCode } from '../errors.ts';
import { openPlatform } from '../platform/open.ts';
import { startServer } from '../serve/server.ts';
import { dirSource, gitSource } from '../serve/source.ts';
import { openStore } from '../storage/open.ts';
import { runCommand, type GlobalOptions, type Io } from './run.ts';

interface ServeOptions {
  readonly listen: { host: string; port: number };
  readonly poll: number;
  readonly dataDir: string | undefined;
}

/** "host:port", "[v6]:port" or ":port"; port 0 picks a free one. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new InvalidArgumentError('expected <host>:<port>, e.g. 127.0.0.1:5000, [::1]:5000 or 0.0.0.0:0 (port 0 picks a free port)');
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

function parsePoll(value: string): number {
  const seconds = Number(value);
  if (!(seconds >= 0.1 && seconds <= 86_400)) throw new InvalidArgumentError('expected seconds from 0.1 to 86400');
  return seconds;
}

const HELP = `
raas serve is a read-only registry for one ISV: Crane's v1 and v2 APIs over the ISV's Crane
data, with manifests, tag lists and referrers answered from the store, blobs redirected to
it (pre-signed URLs for access = private) or, for storage = file, streamed from the directory.
Once listening it prints one line on stdout ("listening on http://host:port", or with --json
{"url": ...}); the access log and reloads go to stderr. GET /_raas/ready answers 200 with the
data being served (source, commit, repositories) once it is loaded, 503 before.
SIGTERM or SIGINT: stop accepting, let requests in flight finish (at most 5 s), exit 0.`;

export function registerServe(program: Command, io: Io): void {
  program
    .command('serve')
    .description("serve an ISV's registry (read-only, Docker v2 and Crane v1 APIs) from its Crane app repository and store")
    .argument('<isv>', 'the ISV (a section of raas.cfg)')
    .addOption(new Option('--listen <host:port>', 'address to listen on (port 0 picks a free port)').argParser(parseListen).default({ host: '127.0.0.1', port: 5000 }, '127.0.0.1:5000'))
    .option('--poll <seconds>', 'how often to fetch the app repository (or check --data-dir) for new metadata', parsePoll, 10)
    .option('--data-dir <dir>', 'serve this Crane data directory instead of the app repository, reloaded when its files change')
    .addHelpText('after', HELP)
    .action(async (isvName: string, options: ServeOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      io.exitCode = await runCommand(io, globals, 'serve', async (ctx) => {
        const isv = isvConfig(ctx.config, isvName);
        const log = ctx.logger;
        const pollMs = Math.round(options.poll * 1000);
        const source = options.dataDir
          ? dirSource({ dir: path.resolve(io.cwd, options.dataDir), pollMs, logger: log })
          : gitSource({
              remote: await openPlatform(isv, ctx.config.openshift, log, ctx.signal).appRemote(),
              dataDir: isv.craneDataDir, workDir: path.join(ctx.workDir, 'app.git'), pollMs, logger: log,
            });
        const store = openStore(isv, ctx.config.aws, log);
        try {
          const server = await startServer({
            source, store: { store, presignSeconds: isv.presignSeconds },
            host: options.listen.host, port: options.listen.port, logger: log,
          });
          io.stdout.write(globals.json ? `${JSON.stringify({ url: server.url })}\n` : `listening on ${server.url}\n`);
          source.start();
          if (!ctx.signal.aborted) await once(ctx.signal, 'abort');
          await server.close();
        } finally {
          await source.close();
          await store.close();
        }
        return { exitCode: ExitCode.ok, human: '', terse: '', json: undefined };
      }, { server: true });
    });
}
