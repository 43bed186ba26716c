import { MiB } from './common.ts';
import type { ExportCase } from './exports.ts';

// What is measured, and what it must reach

export interface BenchCase extends ExportCase {
  readonly key: 'a' | 'b' | 'c';
  readonly label: string;
  /** Target for raas push time / aws s3 cp time. */
  readonly maxRatio: number;
  /** Push again, unchanged, after each first push. */
  readonly repush: boolean;
}

// Image names are bench/<name>, which is what the export's redirect file calls them.
// Docker refused chains deeper than 127 layers, so (b) is 4 tagged chains of 100.
export const CASES: readonly BenchCase[] = [
  { key: 'a', label: '(a) 8 layers × 64 MiB', name: 'a-8x64mib', chains: 1, layersPerChain: 8, layerBytes: 64 * MiB, maxRatio: 0.9, repush: true },
  { key: 'b', label: '(b) 400 layers × 64 KiB', name: 'b-400x64kib', chains: 4, layersPerChain: 100, layerBytes: 64 * 1024, maxRatio: 0.9, repush: false },
  { key: 'c', label: '(c) 1 layer × 1 GiB', name: 'c-1x1gib', chains: 1, layersPerChain: 1, layerBytes: 1024 * MiB, maxRatio: 1.0, repush: false },
];

export const TARGETS = {
  repushRatio: 0.05,
  peakRssMiB: 200,
  statusSeconds: 5,
  /** raas serve requests/s / docker-registry requests/s, for each workload. */
  serveRequestsRatio: 1,
  /** raas serve blob bytes/s / docker-registry blob bytes/s. */
  serveBlobBytesRatio: 0.9,
  fleetSeconds: 30,
  /** raas push (layout = distribution) time / skopeo copy into docker-registry time. */
  peerRatio: 0.5,
} as const;

export const STATUS_IMAGES = 200;
export const STATUS_LAYERS = 10;
export const STATUS_LAYER_BYTES = 4096;
export const STATUS_RUNS = 3;
/** Pushes at a time while publishing the status images (untimed). */
export const STATUS_PUSHERS = 2;

/** The serving case (bench/serve.ts): 64 clients, bounded in time and count, on 127.0.0.1. */
export const SERVE = {
  registry: '/usr/bin/docker-registry',
  concurrency: 64,
  durationMs: 10_000,
  warmupMs: 1_000,
  maxRequests: 2_000_000,
  /** The large layer, whose GETs are the blob workload (gzip of random bytes: a little more). */
  layerBytes: 4 * MiB,
} as const;
/** raas status --all over a fleet: ISVs × images of layers, as cron runs it. */
export const FLEET_ISVS = 50;
export const FLEET_IMAGES = 20;
export const FLEET_LAYERS = 3;
export const FLEET_LAYER_BYTES = 4096;
export const FLEET_RUNS = 3;
/** raas status --jobs: ISVs checked at once (raas's default). */
export const FLEET_JOBS = 4;
