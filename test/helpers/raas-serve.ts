import net from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { RAAS_BIN, type World } from './world.ts';

/**
 * `raas serve` as an operator starts it: bin/raas in the configuration repository, its
 * stdout's one line naming the URL it listens at, its log on stderr (kept for messages).
 * Stopped with SIGTERM when the test ends, if the test did not stop it first.
 */
export interface RaasServe {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Resolves once /_raas/ready answers 200 naming `commit` (any commit when omitted); at most `timeoutMs`. */
  ready(commit?: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | undefined>;
  /** What it logged so far. */
  log(): string;
}

/** `port` 0 picks a free one; a test whose raas.cfg names the server's URL (public_url, registry_url) picks it first with freePort. */
export async function startRaasServe(t: TestContext, world: World, isv: string, options: { port?: number; args?: readonly string[] } = {}): Promise<RaasServe> {
  const child: ResultPromise = execa(process.execPath, [RAAS_BIN, 'serve', isv, '--listen', `127.0.0.1:${options.port ?? 0}`, ...(options.args ?? [])], {
    cwd: world.configDir, env: world.env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 120_000,
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let stopped: Promise<number | undefined> | undefined;
  const stop = () => (stopped ??= (child.kill('SIGTERM'), child.then((r) => r.exitCode)));
  t.after(stop);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    void child.then((r) => reject(new Error(`raas serve exited (${r.exitCode}) before it listened:\n${stderr}`)));
  });
  const url = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
  if (!url) throw new Error(`raas serve said ${JSON.stringify(line)}`);
  return {
    url,
    async ready(commit, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let said = '';
      while (Date.now() < deadline) {
        const answer = await fetch(`${url}/_raas/ready`).catch(() => undefined);
        const body = answer ? ((await answer.json()) as { ready: boolean; commit: string | null }) : undefined;
        if (answer?.status === 200 && body?.ready && (commit === undefined || body.commit === commit)) return;
        said = JSON.stringify(body);
        await sleep(100);
      }
      throw new Error(`raas serve did not serve ${commit ?? 'anything'} within ${timeoutMs} ms (last: ${said}):\n${stderr}`);
    },
    stop,
    log: () => stderr,
  };
}

/** A port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
