import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand, paginateListObjectsV2, type _Object } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { CRANE_CONFIG_FILE, craneConfigText } from '../src/crane/config-file.ts';
import { DEFAULT_DATA_DIR } from '../src/crane/deploy.ts';
import { startServer } from '../src/serve/server.ts';
import { dirSnapshot } from '../src/serve/source.ts';
import { SHA256_METADATA } from '../src/storage/s3-put.ts';
import { git, makeBareRepo } from '../test/helpers/git.ts';
import { RAAS_BIN, log, mib, seconds } from './common.ts';
import { writeExport } from './exports.ts';
import { createBucket, type Bench } from './installation.ts';
import { summarizeProfileDir } from './profile.ts';
import type { ProfileNote } from './profiling.ts';
import { measure, run, wall, type Measured } from './processes.ts';
import { FLEET_IMAGES, FLEET_ISVS, FLEET_JOBS, FLEET_LAYERS, FLEET_LAYER_BYTES, FLEET_RUNS, TARGETS } from './spec.ts';
import { raasCommand } from './tools.ts';

// Step 6: raas status --all of 50 ISVs × 20 images, as cron runs it over a fleet

export interface FleetResult {
  readonly runs: Measured[];
  /** Publishing the template ISV with raas push, then copying it to the others (not timed). */
  readonly setupMs: number;
  readonly objects: number;
  /** From the first run's --json report. */
  readonly isvs: Record<string, number>;
  readonly checks: Record<string, number>;
  readonly notOk: string[];
  /** A CPU profile of one more run, when the median missed its target. */
  readonly profile: ProfileNote | undefined;
}

const isvName = (n: number): string => `isv${String(n).padStart(2, '0')}`;
const TEMPLATE = isvName(1);
/** What differs between ISVs: the ISV name wherever it appears (it never appears in hex ids or digests: "isv" is not hex). */
const renamed = (text: string, isv: string): string => text.replaceAll(TEMPLATE, isv);

function fleetCfg(endpoint: string, dir: string): string {
  const lines = ['[aws]', `endpoint = ${endpoint}`, 'force_path_style = true', 'region = us-east-1', 'access_key_id = ${AWS_ACCESS_KEY_ID}', 'secret_access_key = ${AWS_SECRET_ACCESS_KEY}', ''];
  for (let n = 1; n <= FLEET_ISVS; n++) {
    const isv = isvName(n);
    lines.push(`[${isv}]`, 'storage = s3', `s3_bucket = fleet-${isv}`, 'platform = git', `app_remote = ${path.join(dir, 'crane', `${isv}.git`)}`, 'registry_url = ${BENCH_REGISTRY:-http://registry.bench.invalid:5000}', '');
  }
  return lines.join('\n');
}

/**
 * The fleet: one ISV's 20 images published by raas push (untimed), then that ISV copied to
 * 49 more — its objects by server-side copies into each ISV's bucket under the ISV's names,
 * its Crane app and its backups with the names changed — so every ISV holds what raas push
 * would have left there. One Crane-compatible server serves every app's metadata, so status
 * checks everything: listings, lint, backups and tags through the registry.
 */
export async function benchFleet(bench: Bench): Promise<FleetResult> {
  const started = performance.now();
  const root = path.join(bench.dir, 'fleet');
  const configRemote = await makeBareRepo(path.join(root, 'config.git'), { files: { 'raas.cfg': fleetCfg(bench.s3.endpoint, root) } });
  const configDir = path.join(root, 'config');
  await git(root, 'clone', '-q', configRemote, configDir);
  const craneConf = { [CRANE_CONFIG_FILE]: craneConfigText('git', DEFAULT_DATA_DIR) };
  await createBucket(bench, `fleet-${TEMPLATE}`);
  const template = await makeBareRepo(path.join(root, 'crane', `${TEMPLATE}.git`), { files: craneConf });

  log(`fleet: publishing ${FLEET_IMAGES} images × ${FLEET_LAYERS} layers for ${TEMPLATE} (not timed)`);
  const exportsDir = path.join(root, 'exports');
  await mkdir(exportsDir, { recursive: true });
  const limit = pLimit(2);
  await Promise.all(Array.from({ length: FLEET_IMAGES }, (_, i) => limit(async () => {
    const name = `s${String(i + 1).padStart(2, '0')}`;
    await mkdir(path.join(exportsDir, name));
    const written = writeExport(path.join(exportsDir, name), { name, chains: 1, layersPerChain: FLEET_LAYERS, layerBytes: FLEET_LAYER_BYTES });
    for (let attempt = 1; ; attempt++) {
      const pushed = await run(process.execPath, [RAAS_BIN, '-l', 'error', 'push', TEMPLATE, `${TEMPLATE}/${name}`, '--file', written.archive], { cwd: configDir, env: bench.raasEnv });
      if (pushed.code === 0) break;
      // Two pushes race to the Crane app and the configuration repository; raas says to run a failed push again.
      if (pushed.code !== 1 || attempt === 3) throw new Error(`raas push ${TEMPLATE}/${name} failed (exit ${pushed.code}):\n${pushed.stderr}`);
    }
    await rm(path.join(exportsDir, name), { recursive: true, force: true });
  })));
  await git(configDir, 'pull', '-q');

  const objects = await copyObjects(bench);
  log(`fleet: copied ${objects} objects to ${FLEET_ISVS - 1} more ISVs`);
  const served = path.join(root, 'served');
  const deployed = path.join(root, 'template-app');
  await git(root, 'clone', '-q', template, deployed);
  const dataFiles = (await readdir(path.join(deployed, DEFAULT_DATA_DIR))).filter((f) => f.endsWith('.json'));
  const backups = await readdir(path.join(configDir, TEMPLATE, 'metadata'));
  for (let n = 1; n <= FLEET_ISVS; n++) {
    const isv = isvName(n);
    const files: Record<string, string> = {};
    for (const f of dataFiles) files[`${DEFAULT_DATA_DIR}/${renamed(f, isv)}`] = renamed(await readFile(path.join(deployed, DEFAULT_DATA_DIR, f), 'utf8'), isv);
    if (n > 1) {
      await makeBareRepo(path.join(root, 'crane', `${isv}.git`), { files: { ...craneConf, ...files } });
      for (const b of backups) {
        await mkdir(path.join(configDir, isv, 'metadata'), { recursive: true });
        await writeFile(path.join(configDir, isv, 'metadata', renamed(b, isv)), renamed(await readFile(path.join(configDir, TEMPLATE, 'metadata', b), 'utf8'), isv));
      }
    }
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(served, isv, name)), { recursive: true });
      await writeFile(path.join(served, isv, name), text);
    }
  }
  await git(configDir, 'add', '.');
  await git(configDir, 'commit', '-qm', `backups of ${FLEET_ISVS - 1} copied ISVs`);
  await git(configDir, 'push', '-q');
  const setupMs = performance.now() - started;

  const registry = await startServer({ source: await dirSnapshot(served), host: '127.0.0.1' });
  try {
    const env = { ...bench.raasEnv, BENCH_REGISTRY: registry.url };
    const args = ['--no-commit', '--json', 'status', '--all', '--jobs', String(FLEET_JOBS)];
    const runs: Measured[] = [];
    for (let i = 1; i <= FLEET_RUNS; i++) {
      const m = await measure(bench, 'raas status --all', raasCommand(args), { cwd: configDir, env });
      runs.push(m);
      log(`fleet status run ${i}/${FLEET_RUNS}: ${seconds(m.wallMs)}, peak RSS ${mib(m.maxRssKiB)}`);
    }
    const report = JSON.parse(runs[0]!.stdout) as {
      ok: boolean; isvs: Record<string, number>;
      reports: { isv: string; checks: { check: string; subject: string; outcome: string; detail: string }[] }[];
    };
    const all = report.reports.flatMap((r) => r.checks.map((c) => ({ ...c, isv: r.isv })));
    const checks: Record<string, number> = {};
    for (const c of all) checks[c.check] = (checks[c.check] ?? 0) + 1;
    const notOk = all.filter((c) => c.outcome !== 'ok').map((c) => `${c.isv}: ${c.check} ${c.subject}: ${c.outcome}: ${c.detail}`);
    if (!report.ok) throw new Error(`raas status --all found problems:\n${notOk.slice(0, 10).join('\n')}`);
    let profile: ProfileNote | undefined;
    if (bench.profile && wall(runs) > TARGETS.fleetSeconds * 1000) {
      log('profiling raas status --all: it missed its target');
      const profileDir = path.join(bench.dir, 'profiles', 'fleet');
      const m = await measure(bench, 'profiled raas status --all', raasCommand(args, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]), { cwd: configDir, env });
      profile = { what: `raas status --all of ${FLEET_ISVS} ISVs (${seconds(wall(runs))}, target ≤ ${TARGETS.fleetSeconds} s)`, wallMs: m.wallMs, serverCpuMs: m.serverCpuMs, summary: summarizeProfileDir(profileDir), timeline: '' };
    }
    return { runs, setupMs, objects, isvs: report.isvs, checks, notOk, profile };
  } finally {
    await registry.close();
  }
}

/** The template ISV's objects into every other ISV's bucket, under that ISV's names; tag lists (which name the image) rewritten. */
async function copyObjects(bench: Bench): Promise<number> {
  const { client } = bench.s3;
  const source = `fleet-${TEMPLATE}`;
  const listed: _Object[] = [];
  for await (const page of paginateListObjectsV2({ client }, { Bucket: source })) listed.push(...(page.Contents ?? []));
  const limit = pLimit(16);
  let copied = 0;
  for (let n = 2; n <= FLEET_ISVS; n++) {
    const isv = isvName(n);
    const bucket = await createBucket(bench, `fleet-${isv}`);
    await Promise.all(listed.map((o) => limit(async () => {
      const Key = renamed(o.Key!, isv);
      if (o.Key!.endsWith('/tags/list')) {
        const got = await client.send(new GetObjectCommand({ Bucket: source, Key: o.Key! }));
        const body = Buffer.from(renamed(await got.Body!.transformToString(), isv));
        const sha256 = createHash('sha256').update(body).digest('hex');
        await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body, ContentType: got.ContentType, ACL: 'public-read', Metadata: { ...got.Metadata, [SHA256_METADATA]: sha256 } }));
      } else {
        await client.send(new CopyObjectCommand({ Bucket: bucket, Key, CopySource: `${source}/${o.Key!}`, MetadataDirective: 'COPY', ACL: 'public-read' }));
      }
      copied += 1;
    })));
  }
  return copied;
}
