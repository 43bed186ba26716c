import { spawnSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { log, median, mib, ratio, seconds, sizeText } from './common.ts';
import { writeDockerArchive, type WrittenDockerArchive } from './exports.ts';
import type { Bench } from './installation.ts';
import { measure, peakRss, processCpuMs, stopTracked, wall, type Measured } from './processes.ts';
import { startRegistry } from './registry.ts';
import { CASES, TARGETS, type BenchCase } from './spec.ts';
import { raasCommand } from './tools.ts';

// The peer: what users would otherwise run to fill a stock registry (skopeo copy into
// docker-registry) against raas push writing Distribution's layout straight into its storage

export type PeerTool = 'raas push' | 'skopeo copy';
const TOOLS: readonly PeerTool[] = ['raas push', 'skopeo copy'];

export interface PeerRun extends Measured {
  /** CPU time docker-registry spent during the run (skopeo's runs only: raas needs no server). */
  readonly registryCpuMs: number;
}

export interface PeerResult {
  readonly spec: BenchCase;
  readonly bytes: number;
  readonly images: number;
  readonly runs: Record<PeerTool, PeerRun[]>;
}

/** The cases compared: (a) and (b) of the push bench, as docker-archives. */
export const PEER_CASES: readonly BenchCase[] = CASES.filter((c) => c.key === 'a' || c.key === 'b');

const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

/**
 * What a client of `base` gets for every image of the archive: a manifest naming the
 * archive's config, and every blob it names, through the registry. raas publishes the
 * archive's layers as they are, so their digests are the diff_ids; skopeo gzips them on the
 * way (its docker-archive source hands out plain layers), so it is checked by config and count.
 */
async function checkServed(base: string, written: WrittenDockerArchive, what: string, asArchived: boolean): Promise<void> {
  for (const [ref, want] of written.images) {
    const [name, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
    const got = await fetch(`${base}/v2/${name}/manifests/${tag}`, { headers: { accept: ACCEPT } });
    if (got.status !== 200) throw new Error(`${what}: GET manifest ${ref} answered ${got.status}`);
    const manifest = (await got.json()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
    const layers = manifest.layers.map((l) => l.digest);
    const layersOk = asArchived ? layers.join() === want.diffIds.join() : layers.length === want.diffIds.length;
    if (manifest.config.digest !== want.config || !layersOk) {
      throw new Error(`${what}: ${ref} is served with config ${manifest.config.digest} and ${layers.length} layers (${layers.slice(0, 3).join(', ')}…), not the archive's`);
    }
    for (const blob of [manifest.config, ...manifest.layers]) {
      const head = await fetch(`${base}/v2/${name}/blobs/${blob.digest}`, { method: 'HEAD' });
      if (head.status !== 200) throw new Error(`${what}: HEAD blob ${blob.digest} of ${ref} answered ${head.status}`);
    }
  }
}

/** skopeo copy of every image of the archive into a fresh docker-registry, one after the other, as a script would. */
async function runSkopeo(bench: Bench, spec: BenchCase, written: WrittenDockerArchive): Promise<PeerRun> {
  const root = path.join(bench.dir, 'registries', bench.fresh('peer'));
  await mkdir(root, { recursive: true });
  const registry = await startRegistry(bench, root);
  try {
    const host = new URL(registry.base).host;
    const script = 'for ref in "${@:2}"; do skopeo copy --quiet --insecure-policy --dest-tls-verify=false "docker-archive:$1:$ref" "docker://' + host + '/$ref" || exit 1; done';
    // Every timed run starts with no dirty pages of an earlier one still being written back.
    spawnSync('sync');
    const before = processCpuMs(registry.child.pid!);
    const m = await measure(bench, `skopeo copy (${spec.label})`, ['/bin/bash', '-c', script, 'bash', written.archive, ...written.refs], { env: bench.awsEnv });
    const registryCpuMs = processCpuMs(registry.child.pid!) - before;
    await checkServed(registry.base, written, `docker-registry after skopeo copy (${spec.label})`, false);
    return { ...m, registryCpuMs };
  } finally {
    await stopTracked(registry.child);
    await rm(root, { recursive: true, force: true });
  }
}

/** raas push (layout = distribution) of the archive into a fresh directory, then docker-registry started on it must serve every image. */
async function runRaas(bench: Bench, spec: BenchCase, written: WrittenDockerArchive): Promise<PeerRun> {
  const store = path.join(bench.dir, 'stores', bench.fresh('peer'));
  await mkdir(store, { recursive: true });
  try {
    // A first push: it reads and hashes every layer, with no digests cached by an earlier round.
    await bench.forgetDigests();
    spawnSync('sync');
    const args = ['push', 'bdist', `bench/${spec.name}`, '--file', written.archive];
    const m = await measure(bench, `raas push (${spec.label}, distribution)`, raasCommand(args), { cwd: bench.configDir, env: { ...bench.raasEnv, BENCH_DIR: store } });
    const registry = await startRegistry(bench, store);
    try {
      await checkServed(registry.base, written, `docker-registry on what raas push wrote (${spec.label})`, true);
    } finally {
      await stopTracked(registry.child);
    }
    return { ...m, registryCpuMs: 0 };
  } finally {
    await rm(store, { recursive: true, force: true });
  }
}

export async function benchPeer(bench: Bench, spec: BenchCase, rounds: number): Promise<PeerResult> {
  const dir = path.join(bench.dir, 'exports', `peer-${spec.name}`);
  await mkdir(dir, { recursive: true });
  log(`peer ${spec.label}: writing the docker-archive`);
  const written = writeDockerArchive(dir, spec);
  // The archive's pages go to disk now, not during the first timed run.
  spawnSync('sync');
  const runs: Record<PeerTool, PeerRun[]> = { 'raas push': [], 'skopeo copy': [] };
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const tool of round % 2 === 1 ? TOOLS : [...TOOLS].reverse()) {
        const m = tool === 'raas push' ? await runRaas(bench, spec, written) : await runSkopeo(bench, spec, written);
        runs[tool].push(m);
        log(`peer ${spec.label} round ${round}/${rounds} ${tool}: ${seconds(m.wallMs)}, peak RSS ${mib(m.maxRssKiB)}, CPU ${seconds(m.cpuMs)}, registry CPU ${seconds(m.registryCpuMs)}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { spec, bytes: written.bytes, images: written.refs.length, runs };
}

export interface PeerVerdict {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

export function peerVerdicts(results: readonly PeerResult[]): PeerVerdict[] {
  return results.map((r) => {
    const x = wall(r.runs['raas push']) / wall(r.runs['skopeo copy']);
    return { target: `${r.spec.label}: raas push (distribution, file store) ≤ ${TARGETS.peerRatio} × skopeo copy into docker-registry`, measured: `${ratio(x)} ×`, met: x <= TARGETS.peerRatio };
  });
}

export function peerTable(results: readonly PeerResult[]): string {
  const rows = [
    '| case | data | tool | wall | runs (wall) | tool CPU | registry CPU | peak RSS | raas / skopeo |',
    '| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    const x = wall(r.runs['raas push']) / wall(r.runs['skopeo copy']);
    for (const tool of TOOLS) {
      const ms = r.runs[tool];
      rows.push(`| ${r.spec.label} | ${sizeText(r.bytes)} of layers, ${r.images} ${r.images === 1 ? 'image' : 'images'} | ${tool} | ${seconds(wall(ms))} | ${ms.map((m) => (m.wallMs / 1000).toFixed(2)).join(', ')} | ${seconds(median(ms.map((m) => m.cpuMs)))} | ${tool === 'raas push' ? '—' : seconds(median(ms.map((m) => m.registryCpuMs)))} | ${mib(peakRss(ms))} | ${tool === 'raas push' ? ratio(x) : ''} |`);
    }
  }
  return rows.join('\n');
}
