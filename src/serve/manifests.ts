import { createHash } from 'node:crypto';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_SCHEMA1_SIGNED, OCI_INDEX, OCI_MANIFEST } from '../image/media-types.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../storage/store.ts';

/**
 * Manifests raas serve answers itself: read from the store once, then kept by digest
 * (content-addressed, so never stale) in a cache bounded by bytes. Which digest a tag's
 * object holds is remembered per data snapshot only: a push that moves a tag deploys new
 * metadata, and the next snapshot reads the tag again. Misses are remembered the same
 * way. Concurrent requests for one object share one read.
 */
export interface Manifest {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly mediaType: string;
}

/** The distribution spec's limit on a manifest a registry must accept; larger ones are not manifests raas wrote. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;


/** The media type: the store's record of it when it names one, else the manifest's own `mediaType` (absent: OCI), else what its place in Pulp's layout implies. */
function mediaTypeOf(key: string, bytes: Buffer, stored: string | undefined): string {
  if (stored && stored !== 'application/octet-stream' && stored !== 'binary/octet-stream' && /^application\/[\w.+-]+$/.test(stored.split(';')[0]!.trim())) {
    return stored.split(';')[0]!.trim();
  }
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown };
    if (typeof parsed.mediaType === 'string' && /^application\/[\w.+-]+$/.test(parsed.mediaType)) return parsed.mediaType;
    if (parsed.schemaVersion === 1) return DOCKER_SCHEMA1_SIGNED;
    // Docker's schema 2 types always name themselves; OCI's may not (then the body says which).
    if (Array.isArray(parsed.manifests)) return OCI_INDEX;
    if (parsed.schemaVersion === 2) return OCI_MANIFEST;
  } catch {
    // not JSON: typed by its place below
  }
  if (key.includes('/manifests/list/')) return DOCKER_MANIFEST_LIST;
  if (key.includes('/manifests/1/')) return DOCKER_SCHEMA1_SIGNED;
  return DOCKER_MANIFEST;
}

export class ManifestCache {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #maxBytes: number;
  /** By digest, least recently used first. */
  readonly #byDigest = new Map<string, Manifest>();
  #bytes = 0;
  /** Object key -> digest it held (null: absent), for the snapshot `#generation`. */
  #byKey = new Map<string, string | null>();
  #generation = -1;
  readonly #reading = new Map<string, Promise<Manifest | undefined>>();

  constructor(store: Store, logger: Logger, maxBytes = DEFAULT_CACHE_BYTES) {
    this.#store = store;
    this.#log = logger;
    this.#maxBytes = maxBytes;
  }

  /**
   * The manifest stored at `key` for snapshot `generation`; when `digest` is given (the
   * client asked by digest), only bytes with that digest.
   */
  async get(key: string, generation: number, digest?: string): Promise<Manifest | undefined> {
    if (generation !== this.#generation) {
      this.#generation = generation;
      this.#byKey = new Map();
    }
    if (digest !== undefined) {
      const hit = this.#hit(digest);
      if (hit) return hit;
    }
    const known = this.#byKey.get(key);
    if (known === null) return undefined;
    if (known !== undefined) {
      const hit = this.#hit(known);
      if (hit) return hit;
    }
    let reading = this.#reading.get(key);
    if (!reading) {
      reading = this.#read(key, generation).finally(() => this.#reading.delete(key));
      this.#reading.set(key, reading);
    }
    const manifest = await reading;
    if (manifest && digest !== undefined && manifest.digest !== digest) {
      this.#log.error({ key, digest, read: manifest.digest }, `${key} does not hold ${digest} (it hashes to ${manifest.digest}): not served`);
      return undefined;
    }
    return manifest;
  }

  #hit(digest: string): Manifest | undefined {
    const hit = this.#byDigest.get(digest);
    if (hit) {
      this.#byDigest.delete(digest);
      this.#byDigest.set(digest, hit);
    }
    return hit;
  }

  async #read(key: string, generation: number): Promise<Manifest | undefined> {
    const got = await this.#store.read(key, { maxBytes: MAX_MANIFEST_BYTES });
    const manifest = got && {
      bytes: got.body,
      digest: `sha256:${createHash('sha256').update(got.body).digest('hex')}`,
      mediaType: mediaTypeOf(key, got.body, got.contentType),
    };
    if (generation === this.#generation) this.#byKey.set(key, manifest ? manifest.digest : null);
    if (manifest && !this.#byDigest.has(manifest.digest) && manifest.bytes.length <= this.#maxBytes) {
      this.#byDigest.set(manifest.digest, manifest);
      this.#bytes += manifest.bytes.length;
      for (const [digest, old] of this.#byDigest) {
        if (this.#bytes <= this.#maxBytes) break;
        this.#byDigest.delete(digest);
        this.#bytes -= old.bytes.length;
      }
    }
    return manifest;
  }

  /** Bytes held, for tests of the bound. */
  get size(): number {
    return this.#bytes;
  }
}
