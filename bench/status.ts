import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { CRANE_CONFIG_FILE, craneConfigText } from '../src/crane/config-file.ts';
import { DEFAULT_DATA_DIR } from '../src/crane/deploy.ts';
import { startServer } from '../src/serve/server.ts';
import { dirSnapshot } from '../src/serve/source.ts';
import { git, makeBareRepo } from '../test/helpers/git.ts';
import { RAAS_BIN, log, mib, seconds } from './common.ts';
import { writeExport } from './exports.ts';
import { createBucket, type Bench } from './installation.ts';
import { measure, run, wall, type Measured } from './processes.ts';
import { summarizeProfileDir } from './profile.ts';
import type { ProfileNote } from './profiling.ts';
import { STATUS_IMAGES, STATUS_LAYERS, STATUS_LAYER_BYTES, STATUS_PUSHERS, STATUS_RUNS, TARGETS } from './spec.ts';
import { raasCommand, targetEnv, type Target } from './tools.ts';

// Step 5: raas status of 200 images × 10 layers

export interface StatusResult {
  readonly runs: Measured[];
  readonly setupMs: number;
  /** Publishing pushes that failed and were run again. */
  readonly reruns: string[];
  /** What one status run checked, from its --json report. */
  readonly checks: Record<string, number>;
  readonly outcome: Record<string, number>;
  /** Checks that were not ok, as "check subject: detail". */
  readonly notOk: string[];
  readonly profile: ProfileNote | undefined;
}

/**
 * Publishes the images with raas push (untimed, with their backups, as operators would over
 * time), then serves the deployed metadata with raas's Crane-compatible server so status
 * checks everything: storage listings, lint, backups, and each tag through the registry's
 * redirects.
 */
export async function benchStatus(bench: Bench): Promise<StatusResult> {
  const bucket = await createBucket(bench, 'status');
  // The Crane app as raas setup leaves it: a crane.conf pointing Crane at the data directory.
  const crane = await makeBareRepo(path.join(bench.dir, 'crane', 'status.git'), { files: { [CRANE_CONFIG_FILE]: craneConfigText('git', DEFAULT_DATA_DIR) } });
  const target: Target = { tool: 'raas-s3', bucket, storeDir: undefined, crane };
  log(`status: publishing ${STATUS_IMAGES} images × ${STATUS_LAYERS} layers (not timed)`);
  const started = performance.now();
  const reruns = await publishStatusImages(bench, target);
  const setupMs = performance.now() - started;

  // The registry: the Crane app's deployed data, served from a checkout (read once, at start).
  const served = path.join(bench.dir, 'crane-served');
  await git(bench.dir, 'clone', '-q', crane, served);
  const registry = await startServer({ source: await dirSnapshot(path.join(served, DEFAULT_DATA_DIR)), host: '127.0.0.1' });
  try {
    const env = targetEnv(bench, target, { BENCH_REGISTRY: registry.url });
    const args = ['--no-commit', '--json', 'status', 'bs3'];
    const runs: Measured[] = [];
    for (let i = 1; i <= STATUS_RUNS; i++) {
      const m = await measure(bench, 'raas status', raasCommand(args), { cwd: bench.configDir, env });
      runs.push(m);
      log(`status run ${i}/${STATUS_RUNS}: ${seconds(m.wallMs)}, peak RSS ${mib(m.maxRssKiB)}`);
    }
    const report = JSON.parse(runs[0]!.stdout) as { ok: boolean; summary: Record<string, number>; checks: { check: string; subject: string; outcome: string; detail: string }[] };
    if (!report.ok) throw new Error(`raas status found problems: ${JSON.stringify(report.summary)}`);
    const checks: Record<string, number> = {};
    for (const c of report.checks) checks[c.check] = (checks[c.check] ?? 0) + 1;
    let profile: ProfileNote | undefined;
    if (bench.profile && wall(runs) > TARGETS.statusSeconds * 1000) {
      log('profiling raas status: it missed its target');
      const profileDir = path.join(bench.dir, 'profiles', 'status');
      const m = await measure(bench, 'profiled raas status', raasCommand(args, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]), { cwd: bench.configDir, env });
      profile = { what: `raas status of ${STATUS_IMAGES} images (${seconds(wall(runs))}, target ≤ ${TARGETS.statusSeconds} s)`, wallMs: m.wallMs, serverCpuMs: m.serverCpuMs, summary: summarizeProfileDir(profileDir), timeline: '' };
    }
    const notOk = report.checks.filter((c) => c.outcome !== 'ok').map((c) => `${c.check} ${c.subject}: ${c.outcome}: ${c.detail}`);
    return { runs, setupMs, reruns, checks, outcome: report.summary, notOk, profile };
  } finally {
    await registry.close();
  }
}

/**
 * A push that failed (exit 1) is run again, as raas's message says to (nothing was
 * half-published): raas gives up when the other push keeps winning the race to the Crane
 * app. Returns why each failed attempt failed, for the report.
 */
async function pushWithReruns(bench: Bench, target: Target, name: string, archive: string): Promise<string[]> {
  const failures: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const pushed = await run(process.execPath, [RAAS_BIN, '-l', 'warn', 'push', 'bs3', `bench/${name}`, '--file', archive], { cwd: bench.configDir, env: targetEnv(bench, target) });
    if (pushed.code === 0) return failures;
    const why = pushed.stderr.trim().split('\n')[0] ?? '';
    if (pushed.code !== 1 || attempt === 3) throw new Error(`raas push of status image ${name} failed (exit ${pushed.code}):\n${pushed.stderr}`);
    failures.push(`${name}: ${why}`);
    log(`status: raas push of ${name} failed (${why}); running it again`);
  }
}

/**
 * Two pushes at a time: a push of a small image is mostly process start-up and git, so two
 * overlap well on two cores. Both run in the one working copy of the configuration
 * repository, whose lock takes their backups in turn; their Crane deployments race, and
 * raas catches up and retries when the other pushed first. (From two working copies, the
 * backups race too: with raas's 6 attempts then, 4 of 200 pushes gave up in one run.)
 */
async function publishStatusImages(bench: Bench, target: Target): Promise<string[]> {
  const workers = STATUS_PUSHERS;
  const reruns: string[] = [];
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    const exportsDir = path.join(bench.dir, 'exports', `status-${w}`);
    await mkdir(exportsDir, { recursive: true });
    while (next < STATUS_IMAGES) {
      const name = `s${String(++next).padStart(3, '0')}`;
      const written = writeExport(exportsDir, { name, chains: 1, layersPerChain: STATUS_LAYERS, layerBytes: STATUS_LAYER_BYTES });
      reruns.push(...(await pushWithReruns(bench, target, name, written.archive)));
      await rm(exportsDir, { recursive: true, force: true });
      await mkdir(exportsDir);
      if (++done % 20 === 0) log(`status: ${done}/${STATUS_IMAGES} published`);
    }
  }));
  return reruns;
}
