import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeBareRepo } from '../test/helpers/git.ts';
import { AWS, RAAS_BIN, RAAS_NODE_FLAGS } from './common.ts';
import type { WrittenExport } from './exports.ts';
import { createBucket, deleteBucket, type Bench } from './installation.ts';
import { measure, type Measured } from './processes.ts';
import type { BenchCase } from './spec.ts';

// The three tools being compared, and where each run writes

export type Tool = 'raas-s3' | 'raas-file' | 'aws';

/** Where one run writes: a fresh bucket (or directory) and a fresh Crane app remote. */
export interface Target {
  readonly tool: Tool;
  readonly bucket: string | undefined;
  readonly storeDir: string | undefined;
  readonly crane: string | undefined;
}

export async function freshTarget(bench: Bench, tool: Tool): Promise<Target> {
  const name = bench.fresh(tool);
  if (tool === 'raas-file') {
    const storeDir = path.join(bench.dir, 'stores', name);
    await mkdir(storeDir, { recursive: true });
    return { tool, bucket: undefined, storeDir, crane: await makeBareRepo(path.join(bench.dir, 'crane', `${name}.git`)) };
  }
  const bucket = await createBucket(bench, name);
  return { tool, bucket, storeDir: undefined, crane: tool === 'aws' ? undefined : await makeBareRepo(path.join(bench.dir, 'crane', `${name}.git`)) };
}

export async function removeTarget(bench: Bench, target: Target): Promise<void> {
  if (target.bucket) await deleteBucket(bench, target.bucket);
  if (target.storeDir) await rm(target.storeDir, { recursive: true, force: true });
}

/** The environment that points raas.cfg's ${BENCH_*} at a target. */
export function targetEnv(bench: Bench, target: Target, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...bench.raasEnv,
    ...(target.bucket ? { BENCH_BUCKET: target.bucket } : {}),
    ...(target.storeDir ? { BENCH_DIR: target.storeDir } : {}),
    ...(target.crane ? { BENCH_CRANE: target.crane } : {}),
    ...extra,
  };
}

/** raas as a user runs it (bin/raas with its #! line's flags), from the configuration repository; `-l warn` keeps the bench's output readable. */
export function raasCommand(args: readonly string[], nodeFlags: readonly string[] = []): string[] {
  return [process.execPath, ...RAAS_NODE_FLAGS, ...nodeFlags, RAAS_BIN, '-l', 'warn', ...args];
}

export function pushArgs(target: Target, spec: BenchCase, archive: string): string[] {
  return ['push', target.tool === 'raas-s3' ? 'bs3' : 'bfile', `bench/${spec.name}`, '--file', archive];
}

/** One timed run of `tool` into `target`. */
export function runTool(bench: Bench, target: Target, spec: BenchCase, written: WrittenExport): Promise<Measured> {
  if (target.tool === 'aws') {
    // The files as raas lays them out (<app>/<id>/{json,ancestry,layer}); default settings, no progress output.
    const command = [AWS, 's3', 'cp', '--recursive', '--only-show-errors', '--no-progress', '--endpoint-url', bench.s3.endpoint, written.extracted, `s3://${target.bucket}/bench-${spec.name}/`];
    return measure(bench, `aws s3 cp (${spec.label})`, command, { env: bench.awsEnv });
  }
  return measure(bench, `raas push (${spec.label}, ${target.tool})`, raasCommand(pushArgs(target, spec, written.archive)), { cwd: bench.configDir, env: targetEnv(bench, target) });
}
