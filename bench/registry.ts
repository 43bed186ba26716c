import { closeSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../test/helpers/serve.ts';
import type { Bench } from './installation.ts';
import { startTracked } from './processes.ts';
import { SERVE } from './spec.ts';

// Debian's docker-registry as the bench runs it: filesystem driver, 127.0.0.1, its log in a file

export interface Running {
  readonly base: string;
  readonly child: ChildProcess;
}

export async function waitFor(url: string, what: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before it answered; see ${logFile}`);
    const status = await fetch(url).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} did not answer ${url} within 30 s; see ${logFile}`);
}

/**
 * docker-registry on `rootDirectory` (filesystem driver, in-memory blob descriptor cache,
 * default logging: the access log on), as an operator would start it.
 */
export async function startRegistry(bench: Bench, rootDirectory: string): Promise<Running> {
  const port = await freePort();
  const name = bench.fresh('registry');
  const config = path.join(bench.dir, `${name}.yml`);
  writeFileSync(config, [
    'version: 0.1',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${rootDirectory}`,
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n'));
  const logFile = path.join(bench.dir, `${name}.log`);
  const fd = openSync(logFile, 'w');
  // Go programs refuse to start with AWS_CA_BUNDLE set (and the bench environment drops every AWS_ variable anyway).
  const env = Object.fromEntries(Object.entries(bench.awsEnv).filter(([k]) => k !== 'AWS_CA_BUNDLE'));
  const child = startTracked(SERVE.registry, ['serve', config], { env, logFile: fd, readStdout: false });
  closeSync(fd);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/v2/`, 'docker-registry', child, logFile);
  return { base, child };
}
