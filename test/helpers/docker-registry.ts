import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { execa } from 'execa';
import { tempDir } from './git.ts';
import { freePort } from './serve.ts';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export interface StockRegistry {
  /** "http://127.0.0.1:<port>/" */
  readonly url: string;
  /** "127.0.0.1:<port>", for docker:// references. */
  readonly host: string;
  /** What the registry logged so far, for failure messages. */
  log(): string;
}

/**
 * Debian's docker-registry (Distribution 2.8) on 127.0.0.1 with the given config file text
 * (its http.addr is replaced by a free loopback port) and environment, stopped when the
 * test ends. AWS_CA_BUNDLE is unset: Go programs refuse to start with it here.
 */
export async function startStockRegistry(t: TestContext, config: string, env: NodeJS.ProcessEnv = {}): Promise<StockRegistry> {
  const dir = await tempDir(t, 'raas-registry-');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const file = path.join(dir, 'config.yml');
  const text = config.replace(/^(\s*addr:).*$/m, `$1 ${host}`);
  if (!/^\s*addr:/m.test(config)) throw new Error('the registry config has no http.addr');
  await writeFile(file, text);
  const { AWS_CA_BUNDLE: _unset, ...inherited } = process.env;
  const child = execa(DOCKER_REGISTRY, ['serve', file], { env: { ...inherited, ...env }, extendEnv: false, reject: false, all: true, stdin: 'ignore' });
  let log = '';
  let exited: number | undefined;
  void child.then((r) => {
    exited = r.exitCode ?? -1;
  });
  child.all?.setEncoding('utf8').on('data', (chunk: string) => {
    log += chunk;
  });
  t.after(async () => {
    child.kill('SIGTERM');
    await child;
  });
  const url = `http://${host}/`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`docker-registry exited (${exited}):\n${log}`);
    const answered = await fetch(`${url}v2/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => undefined);
    if (answered === 200) break;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer /v2/ within 15 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, host, log: () => log };
}
