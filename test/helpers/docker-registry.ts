import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { startDaemon } from './daemon.ts';
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
  const daemon = startDaemon(t, DOCKER_REGISTRY, ['serve', file], env);
  const url = `http://${host}/`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (daemon.exited() !== undefined) throw new Error(`docker-registry exited (${daemon.exited()}):\n${daemon.log()}`);
    const answered = await fetch(`${url}v2/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => undefined);
    if (answered === 200) break;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer /v2/ within 15 s:\n${daemon.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, host, log: daemon.log };
}
