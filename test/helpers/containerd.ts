import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { execa } from 'execa';
import { startDaemon } from './daemon.ts';
import { tempDir } from './git.ts';

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';

/** Why a private containerd cannot run here, or undefined when it can (root, Debian's containerd and ctr). */
export async function containerdUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'containerd needs root';
  for (const file of [CONTAINERD, CTR]) {
    if (!(await access(file).then(() => true, () => false))) return `${file} is missing (Debian package containerd)`;
  }
  return undefined;
}

export interface PrivateContainerd {
  /** Run ctr against this daemon; returns stdout, throws with ctr's output on failure. */
  ctr(args: readonly string[]): Promise<string>;
  log(): string;
}

/**
 * A containerd daemon of the test's own (Debian's containerd 1.6): root, state and sockets
 * in a temporary directory, the CRI plugin off, stopped when the test ends. `ctr` does
 * nothing without a daemon (it dials /run/containerd/containerd.sock), and this one boots
 * in well under a second. Pull with `content fetch` (no unpacking, so no mounts are left).
 */
export async function startContainerd(t: TestContext): Promise<PrivateContainerd> {
  const dir = await tempDir(t, 'raas-containerd-');
  const address = path.join(dir, 'c.sock');
  const config = path.join(dir, 'config.toml');
  await writeFile(
    config,
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${dir}/t.sock"`,
      '',
    ].join('\n'),
  );
  const { AWS_CA_BUNDLE: _unset, ...inherited } = process.env;
  const daemon = startDaemon(t, CONTAINERD, ['--config', config]);
  const ctr = async (args: readonly string[]): Promise<string> => {
    const result = await execa(CTR, ['--address', address, ...args], { reject: false, all: true, env: inherited, extendEnv: false });
    if (result.exitCode !== 0) throw new Error(`ctr ${args.join(' ')} failed (${result.exitCode}):\n${result.all}`);
    return result.stdout;
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (daemon.exited() !== undefined) throw new Error(`containerd exited (${daemon.exited()}):\n${daemon.log()}`);
    // ctr waits for a socket that is not there yet, so look for the socket first.
    const listening = await access(address).then(() => true, () => false);
    if (listening && (await ctr(['version']).then(() => true, () => false))) break;
    if (Date.now() > deadline) throw new Error(`containerd did not answer on ${address} within 15 s:\n${daemon.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ctr, log: daemon.log };
}

/**
 * `ctr content fetch` of one platform of `ref` (host/name:tag) over plain HTTP by a private
 * containerd: the digests its content store then holds, one a line. Undefined, after a
 * diagnostic saying why, where containerd cannot run here.
 */
export async function ctrFetch(t: TestContext, ref: string, platform: string): Promise<string | undefined> {
  const unavailable = await containerdUnavailable();
  if (unavailable) {
    t.diagnostic(`ctr not run: ${unavailable}`);
    return undefined;
  }
  const containerd = await startContainerd(t);
  await containerd.ctr(['content', 'fetch', '--plain-http', '--platform', platform, ref]);
  return containerd.ctr(['content', 'ls', '-q']);
}
