import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Blob, Digest, LayerDigests } from './model.ts';

/**
 * Layer digests of one archive from earlier runs, so pushing the same export again does
 * not read its gigabytes to learn what it learnt before. Like git's index, it trusts the
 * archive's identity: path, device, inode, size, and modification and change times in
 * nanoseconds. An archive written too recently to tell a later write apart is not
 * cached. Bytes are still checked against these digests whenever they are sent.
 */
export interface DigestCache {
  /** How many layers' digests came from the cache so far. */
  readonly hits: number;
  /**
   * The digests of `blob` with parts of `partSize` and, when `decompress` names how, its
   * diff_id computed by decompressing it so; undefined when not all are known.
   */
  get(blob: Blob, partSize: number | undefined, decompress: Decompressed | undefined): LayerDigests | undefined;
  /** `decompressed`: how the pass that computed `digests.diffId` decompressed the layer. */
  set(blob: Blob, partSize: number | undefined, digests: LayerDigests, decompressed: Decompressed | undefined): void;
  /** Write what this run learnt, if the archive is still the one it read. */
  save(): Promise<void>;
}

type Decompressed = 'gzip' | 'zstd';

interface Entry {
  sha256: string;
  diffId?: Digest;
  /** How `diffId` was computed; absent: gunzipped (the only way earlier versions computed one). */
  diffIdFrom?: Decompressed;
  /** Part hashes by part size, for objects sent in more than one part. */
  parts?: Record<string, string[]>;
}

interface CacheFile {
  version: 1;
  identity: string;
  blobs: Record<string, Entry>;
}

const isHex = (value: unknown): boolean => typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);

/** An archive modified less than this before the run started might change again within the same timestamp. */
const RACY_MS = 2000;
/** Cache files not used for this long are removed. */
const KEEP_MS = 30 * 24 * 3600 * 1000;

export function defaultDigestCacheDir(env: NodeJS.ProcessEnv): string {
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(cache, 'raas', 'digests');
}

async function identityOf(file: string): Promise<{ identity: string; mtimeMs: number }> {
  const real = await realpath(file);
  const s = await stat(real, { bigint: true });
  return { identity: [real, s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join('\0'), mtimeMs: Number(s.mtimeMs) };
}

/** The cache for `archive`; without a usable one (unreadable, racy), one that remembers nothing. */
export async function openDigestCache(dir: string, archive: string): Promise<DigestCache> {
  const started = Date.now();
  let identity: string;
  try {
    const found = await identityOf(archive);
    if (found.mtimeMs > started - RACY_MS) return NO_CACHE;
    identity = found.identity;
  } catch {
    return NO_CACHE;
  }
  const file = path.join(dir, `${createHash('sha256').update(identity).digest('hex').slice(0, 32)}.json`);
  const blobs = await readBlobs(file, identity);
  let learnt = false;
  let hits = 0;
  const keyOf = (blob: Blob): string | undefined => (blob.source?.file === archive ? `${blob.source.offset}:${blob.size}` : undefined);
  return {
    get hits() {
      return hits;
    },
    get(blob, partSize, decompress) {
      const key = keyOf(blob);
      const entry = key === undefined ? undefined : blobs[key];
      if (!entry) return undefined;
      const count = partSize === undefined ? 1 : Math.max(1, Math.ceil(blob.size / partSize));
      const parts = count === 1 ? [entry.sha256] : entry.parts?.[String(partSize)];
      if (!Array.isArray(parts) || parts.length !== count || ![entry.sha256, ...parts].every(isHex)) return undefined;
      if (entry.diffId !== undefined && !isHex(String(entry.diffId).slice('sha256:'.length))) return undefined;
      if (decompress !== undefined && (entry.diffId === undefined || (entry.diffIdFrom ?? 'gzip') !== decompress)) return undefined;
      hits += 1;
      return { sha256: entry.sha256, diffId: entry.diffId, parts };
    },
    set(blob, partSize, digests, decompressed) {
      const key = keyOf(blob);
      if (key === undefined) return;
      const entry: Entry = { ...blobs[key], sha256: digests.sha256 };
      if (digests.diffId !== undefined && decompressed !== undefined) {
        entry.diffId = digests.diffId;
        if (decompressed === 'gzip') delete entry.diffIdFrom;
        else entry.diffIdFrom = decompressed;
      }
      if (digests.parts.length > 1) entry.parts = { ...entry.parts, [String(partSize)]: [...digests.parts] };
      blobs[key] = entry;
      learnt = true;
    },
    async save() {
      if (!learnt) return;
      try {
        if ((await identityOf(archive)).identity !== identity) return; // it changed while we read it
        await mkdir(dir, { recursive: true });
        const temp = `${file}.${process.pid}.tmp`;
        await writeFile(temp, JSON.stringify({ version: 1, identity, blobs } satisfies CacheFile));
        await rename(temp, file);
        await pruneOld(dir, file);
      } catch {
        // A cache that cannot be written costs the next run a read, nothing else.
      }
    },
  };
}

async function readBlobs(file: string, identity: string): Promise<Record<string, Entry>> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<CacheFile>;
    if (parsed.version === 1 && parsed.identity === identity && parsed.blobs && typeof parsed.blobs === 'object') return parsed.blobs;
  } catch {
    // Missing or unreadable: start empty.
  }
  return {};
}

async function pruneOld(dir: string, keep: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name);
    if (file === keep || !name.endsWith('.json')) continue;
    const s = await stat(file).catch(() => undefined);
    if (s && now - s.mtimeMs > KEEP_MS) await rm(file, { force: true });
  }
}

const NO_CACHE: DigestCache = {
  hits: 0,
  get: () => undefined,
  set: () => {},
  save: async () => {},
};
