import type { TestContext } from 'node:test';
import { execa } from 'execa';

/** A server a test starts and stops: what it has printed, and its exit code once it exited. */
export interface Daemon {
  log(): string;
  exited(): number | undefined;
}

/**
 * Start a Go daemon (docker-registry, containerd) for the test's lifetime: without
 * AWS_CA_BUNDLE (Go programs refuse to start with it set, reference.md section 7), its
 * output kept for failure messages, SIGTERM when the test ends.
 */
export function startDaemon(t: TestContext, command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Daemon {
  const { AWS_CA_BUNDLE: _unset, ...inherited } = process.env;
  const child = execa(command, args, { env: { ...inherited, ...env }, extendEnv: false, reject: false, all: true, stdin: 'ignore' });
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
  return { log: () => log, exited: () => exited };
}
