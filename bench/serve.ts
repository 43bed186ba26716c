import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { ociEntries, ociFiles, randomLayer, writeTar } from '../test/helpers/archives.ts';
import { freePort } from '../test/helpers/serve.ts';
import { registryVersion } from './machine.ts';
import { startRegistry, waitFor, type Running } from './registry.ts';
import { RAAS_BIN, RAAS_NODE_FLAGS, log, median } from './common.ts';
import type { Bench } from './installation.ts';
import { runLoad, type LoadRequest, type LoadResult } from './load.ts';
import { processCpuMs, run, startTracked, stopTracked } from './processes.ts';
import { summarizeProfileDir } from './profile.ts';
import type { ProfileNote } from './profiling.ts';
import { SERVE, TARGETS } from './spec.ts';
import { freshTarget, targetEnv } from './tools.ts';

// The serving case: raas serve (file store) and Debian's docker-registry (filesystem driver)
// serving the same image to the same bounded load client, side by side, in turns

export type Server = 'raas serve' | 'docker-registry';
export type Workload = 'manifest' | 'blob';
export const SERVERS: readonly Server[] = ['raas serve', 'docker-registry'];
export const WORKLOADS: readonly Workload[] = ['manifest', 'blob'];

export interface ServeRun extends LoadResult {
  /** CPU time the server process spent during the run, per 1000 requests. */
  readonly serverCpuMsPer1000: number;
}

export interface ServeResult {
  /** runs[server][workload]: one per round. */
  readonly runs: Record<Server, Record<Workload, ServeRun[]>>;
  readonly image: { readonly manifestBytes: number; readonly layerBytes: number; readonly digest: string };
  readonly registryVersion: string;
  readonly profiles: ProfileNote[];
}

const IMAGE = 'bench/serve';
const TAG = '1.0';
const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
// What containerd and skopeo send: every manifest type they read.
const ACCEPT = [MANIFEST_TYPE, 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json'].join(', ');

/** raas serve as an operator runs it (default log level: an access log line per request), its log in a file. */
async function startRaasServe(bench: Bench, env: NodeJS.ProcessEnv, nodeFlags: readonly string[] = []): Promise<Running> {
  const logFile = path.join(bench.dir, `raas-serve-${bench.fresh('log')}.log`);
  const fd = openSync(logFile, 'w');
  const child = startTracked(process.execPath, [...RAAS_NODE_FLAGS, ...nodeFlags, RAAS_BIN, 'serve', 'bfile', '--listen', '127.0.0.1:0'], { cwd: bench.configDir, env, logFile: fd, readStdout: true });
  closeSync(fd);
  const line = await new Promise<string>((resolve, reject) => {
    // The interface keeps reading stdout after the first line, so it never fills.
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`raas serve exited (${code}) before it listened; see ${logFile}`)));
  });
  const base = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line.trim())?.[1];
  if (!base) throw new Error(`raas serve said ${JSON.stringify(line)}, not "listening on http://127.0.0.1:<port>"`);
  await waitFor(`${base}/_raas/ready`, 'raas serve', child, logFile);
  return { base, child };
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** What a client sees of the image at `base`: the manifest by tag (HEAD and GET) and each blob, with their digests checked. */
async function checkServed(base: string, what: string): Promise<{ digest: string; manifest: Buffer; layer: { digest: string; size: number } }> {
  const url = `${base}/v2/${IMAGE}/manifests/${TAG}`;
  const head = await fetch(url, { method: 'HEAD', headers: { accept: ACCEPT }, redirect: 'manual' });
  const digest = head.headers.get('docker-content-digest');
  if (head.status !== 200 || !digest) throw new Error(`${what}: HEAD ${url} answered ${head.status} with Docker-Content-Digest ${digest}`);
  const manifest = Buffer.from(await (await fetch(`${base}/v2/${IMAGE}/manifests/${digest}`, { headers: { accept: ACCEPT } })).arrayBuffer());
  if (sha256(manifest) !== digest) throw new Error(`${what}: the manifest by digest is not ${digest}`);
  const parsed = JSON.parse(manifest.toString()) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
  for (const blob of [parsed.config, ...parsed.layers]) {
    const got = await fetch(`${base}/v2/${IMAGE}/blobs/${blob.digest}`);
    const bytes = Buffer.from(await got.arrayBuffer());
    if (got.status !== 200 || sha256(bytes) !== blob.digest) throw new Error(`${what}: blob ${blob.digest} answered ${got.status} with other bytes`);
  }
  const layer = parsed.layers.reduce((a, b) => (b.size > a.size ? b : a));
  return { digest, manifest, layer };
}

function workloadRequests(workload: Workload, image: { digest: string; manifest: Buffer; layer: { digest: string; size: number } }): LoadRequest[] {
  const headers = { accept: ACCEPT };
  if (workload === 'blob') return [{ method: 'GET', path: `/v2/${IMAGE}/blobs/${image.layer.digest}`, length: image.layer.size }];
  // What containerd does: resolve the tag with HEAD, then GET the manifest by its digest.
  return [
    { method: 'HEAD', path: `/v2/${IMAGE}/manifests/${TAG}`, headers, length: image.manifest.length },
    { method: 'GET', path: `/v2/${IMAGE}/manifests/${image.digest}`, headers, length: image.manifest.length },
  ];
}

async function measureLoad(server: Running, requests: readonly LoadRequest[]): Promise<ServeRun> {
  const load = { base: server.base, requests, concurrency: SERVE.concurrency, maxRequests: SERVE.maxRequests };
  await runLoad({ ...load, durationMs: SERVE.warmupMs });
  const before = processCpuMs(server.child.pid!);
  const result = await runLoad({ ...load, durationMs: SERVE.durationMs });
  return { ...result, serverCpuMsPer1000: ((processCpuMs(server.child.pid!) - before) / result.requests) * 1000 };
}

/**
 * Publishes one image (a small and a large layer) with raas push to a file store, serves it
 * with raas serve, copies it from there into docker-registry with skopeo (so both serve the
 * very same manifest and blobs), checks both serve it intact, then measures each workload
 * on each server in every round, the two servers taking turns at going first.
 */
export async function benchServe(bench: Bench, rounds: number): Promise<ServeResult> {
  const target = await freshTarget(bench, 'raas-file');
  const dir = path.join(bench.dir, 'serve');
  await mkdir(dir, { recursive: true });
  // gzip layers, as registries hold them: skopeo would compress plain ones on the way to docker-registry, which would then serve other blobs.
  const { files } = ociFiles({ layers: [randomLayer(4096, 'small.bin'), randomLayer(SERVE.layerBytes, 'large.bin')], tag: TAG, gzip: true });
  const archive = await writeTar(path.join(dir, 'serve.tar'), ociEntries(files));
  // The store's objects are served by raas serve itself (see README, "raas serve"): its URL goes into the metadata.
  const servePort = await freePort();
  const env = targetEnv(bench, target, { BENCH_REGISTRY: `http://127.0.0.1:${servePort}`, BENCH_PUBLIC_URL: `http://127.0.0.1:${servePort}/` });
  const pushed = await run(process.execPath, [RAAS_BIN, '-l', 'warn', 'push', 'bfile', IMAGE, '--file', archive], { cwd: bench.configDir, env });
  if (pushed.code !== 0) throw new Error(`raas push of the serving image failed (exit ${pushed.code}):\n${pushed.stderr}`);

  const servers: Record<Server, Running> = { 'raas serve': await startRaasServe(bench, env), 'docker-registry': await startRegistry(bench, path.join(bench.dir, 'registry')) };
  try {
    const copied = await run('skopeo', ['copy', '--quiet', '--insecure-policy', '--src-tls-verify=false', '--dest-tls-verify=false',
      `docker://${new URL(servers['raas serve'].base).host}/${IMAGE}:${TAG}`, `docker://${new URL(servers['docker-registry'].base).host}/${IMAGE}:${TAG}`], { env: bench.awsEnv });
    if (copied.code !== 0) throw new Error(`skopeo copy from raas serve to docker-registry failed:\n${copied.stderr}`);
    const image = await checkServed(servers['raas serve'].base, 'raas serve');
    const stock = await checkServed(servers['docker-registry'].base, 'docker-registry');
    if (stock.digest !== image.digest) throw new Error(`docker-registry serves manifest ${stock.digest}, raas serve ${image.digest}: not the same image`);
    log(`serve: ${IMAGE}:${TAG} (manifest ${image.manifest.length} bytes, layer ${image.layer.size} bytes) served intact by both`);

    const runs = { 'raas serve': { manifest: [], blob: [] }, 'docker-registry': { manifest: [], blob: [] } } as Record<Server, Record<Workload, ServeRun[]>>;
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? SERVERS : [...SERVERS].reverse();
      for (const workload of WORKLOADS) {
        for (const server of order) {
          const m = await measureLoad(servers[server], workloadRequests(workload, image));
          runs[server][workload].push(m);
          log(`serve round ${round}/${rounds}, ${workload}, ${server}: ${m.perSecond.toFixed(0)} req/s, p99 ${m.p99Ms.toFixed(1)} ms, ${(m.bytesPerSecond / 2 ** 20).toFixed(0)} MiB/s`);
        }
      }
    }
    const profiles: ProfileNote[] = [];
    if (bench.profile) {
      for (const workload of WORKLOADS.filter((w) => serveVerdicts({ runs }).some((v) => v.workload === w && !v.met))) {
        await stopTracked(servers['raas serve'].child);
        profiles.push(await profileServe(bench, env, workload, image));
        servers['raas serve'] = await startRaasServe(bench, env);
      }
    }
    return {
      runs, profiles, registryVersion: registryVersion(),
      image: { manifestBytes: image.manifest.length, layerBytes: image.layer.size, digest: image.digest },
    };
  } finally {
    for (const server of Object.values(servers)) await stopTracked(server.child);
  }
}

/** One more load of `workload` on raas serve under `node --cpu-prof`: where its time went. */
async function profileServe(bench: Bench, env: NodeJS.ProcessEnv, workload: Workload, image: Parameters<typeof workloadRequests>[1]): Promise<ProfileNote> {
  log(`profiling raas serve on the ${workload} workload: it missed its target`);
  const profileDir = path.join(bench.dir, 'profiles', bench.fresh('serve'));
  const server = await startRaasServe(bench, env, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
  const started = performance.now();
  let m: ServeRun;
  try {
    m = await measureLoad(server, workloadRequests(workload, image));
  } finally {
    // The profile is written when the process exits; raas serve exits 0 on SIGTERM.
    await stopTracked(server.child);
  }
  return {
    what: `raas serve, ${workload} workload (${m.perSecond.toFixed(0)} req/s, p99 ${m.p99Ms.toFixed(1)} ms while profiled)`,
    wallMs: performance.now() - started, serverCpuMs: m.serverCpuMsPer1000 * (m.requests / 1000), summary: summarizeProfileDir(profileDir), timeline: '',
  };
}

export interface ServeVerdict {
  readonly workload: Workload;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

const mid = (runs: readonly ServeRun[], pick: (r: ServeRun) => number): number => median(runs.map(pick));

/** raas serve against the stock registry: requests per second (both workloads) and blob bytes per second. */
export function serveVerdicts(result: Pick<ServeResult, 'runs'>): ServeVerdict[] {
  const out: ServeVerdict[] = [];
  const raas = result.runs['raas serve'];
  const stock = result.runs['docker-registry'];
  for (const workload of WORKLOADS) {
    const r = mid(raas[workload], (m) => m.perSecond) / mid(stock[workload], (m) => m.perSecond);
    out.push({ workload, target: `serving, ${workload}: raas serve requests/s ≥ ${TARGETS.serveRequestsRatio} × docker-registry`, measured: `${r.toFixed(2)} ×`, met: r >= TARGETS.serveRequestsRatio });
  }
  const b = mid(raas.blob, (m) => m.bytesPerSecond) / mid(stock.blob, (m) => m.bytesPerSecond);
  out.push({ workload: 'blob', target: `serving, blob: raas serve bytes/s ≥ ${TARGETS.serveBlobBytesRatio} × docker-registry`, measured: `${b.toFixed(2)} ×`, met: b >= TARGETS.serveBlobBytesRatio });
  return out;
}

export function serveTable(result: ServeResult): string {
  const rows = [
    '| workload | server | requests/s | p50 | p99 | MiB/s | server CPU per 1000 requests |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const workload of WORKLOADS) {
    for (const server of SERVERS) {
      const runs = result.runs[server][workload];
      rows.push(`| ${workload === 'manifest' ? 'manifest HEAD by tag + GET by digest' : `blob GET (${(result.image.layerBytes / 2 ** 20).toFixed(0)} MiB layer)`} | ${server} | ${mid(runs, (m) => m.perSecond).toFixed(0)} | ${mid(runs, (m) => m.p50Ms).toFixed(1)} ms | ${mid(runs, (m) => m.p99Ms).toFixed(1)} ms | ${(mid(runs, (m) => m.bytesPerSecond) / 2 ** 20).toFixed(1)} | ${(mid(runs, (m) => m.serverCpuMsPer1000) / 1000).toFixed(2)} s |`);
    }
  }
  return rows.join('\n');
}
