import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A Node 20 binary (older than raas needs) from the npm package node@20: $RAAS_TEST_NODE20,
 * else the one .ci/run installs into .tools/node20, else installed into a temporary prefix
 * for this test (removed after it).
 */
export async function node20(t: TestContext): Promise<string> {
  const given = process.env.RAAS_TEST_NODE20;
  if (given) return given;
  const ci = path.join(REPO, '.tools', 'node20', 'node_modules', '.bin', 'node');
  if (existsSync(ci)) return ci;
  const prefix = await mkdtemp(path.join(os.tmpdir(), 'raas-node20-'));
  t.after(() => rm(prefix, { recursive: true, force: true }));
  await execa('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', 'node@20']);
  return path.join(prefix, 'node_modules', '.bin', 'node');
}

/** PATH with `node` (and so npm's `#!/usr/bin/env node`) resolving to the given binary first. */
export const pathWith = (node: string): string => `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}`;
