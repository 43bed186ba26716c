import { createHash, type Hash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { InputError } from '../errors.ts';
import { decompressor, magicCompression } from './compression.ts';
import type { DigestCache } from './digest-cache.ts';
import { toDigest } from './digest.ts';
import type { Blob, LayerDigests, LayerSource } from './model.ts';

/** The digests of a layer, read once per push whoever asks first (verification, the upload plan, the v2 plan). */
export type LayerDigester = (image: LayerSource) => Promise<LayerDigests>;

/**
 * A push reads each layer once before sending it, so everything that needs its hashes
 * asks here: the digest check of the archive, the comparison with stored objects, the v2
 * manifest (digest and diff_id) and the part hashes an S3 upload signs each request with.
 * `partSize` is how the store cuts an object of a given size (undefined: one piece).
 */
export function layerDigester(partSize: (size: number) => number | undefined = () => undefined, cache?: DigestCache, signal?: AbortSignal): LayerDigester {
  // By the bytes: the v1 view and the archived manifests describe one layer with two objects.
  const done = new Map<Blob, Promise<LayerDigests>>();
  const digest = async (image: LayerSource): Promise<LayerDigests> => {
    const size = partSize(image.layer.size);
    // A gzip or zstd layer is decompressed in the same read: its diff_id is computed here,
    // and checked against the one its config gives (verify.ts), if any. The bytes decide
    // how: whether they are what the archive declares is checked after their digest, which
    // is what a corrupt layer should be refused for.
    const compression = await magicCompression(image.layer);
    const decompress = compression === 'gzip' || compression === 'zstd' ? compression : undefined;
    const cached = cache?.get(image.layer, size, decompress);
    if (cached) return cached;
    const digests = await digestLayer(image.layer, size, decompress, signal);
    cache?.set(image.layer, size, digests, decompress);
    return digests;
  };
  return (image) => {
    let digests = done.get(image.layer);
    if (!digests) {
      digests = digest(image);
      done.set(image.layer, digests);
    }
    return digests;
  };
}

/** `signal` ends the pass at once: hashing a large layer takes long enough for SIGINT to matter. */
async function digestLayer(blob: Blob, partSize: number | undefined, decompress: 'gzip' | 'zstd' | undefined, signal: AbortSignal | undefined): Promise<LayerDigests> {
  const whole = createHash('sha256');
  const parts = new PartHashes(blob.size, partSize);
  const tar = createHash('sha256');
  let read = 0;
  const hashing = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      whole.update(chunk);
      parts.update(chunk);
      read += chunk.length;
      if (decompress) yield chunk;
    }
  };
  const drain = async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) tar.update(chunk);
  };
  try {
    const options = { signal };
    await (decompress ? pipeline(blob.open(), hashing, decompressor(decompress), drain, options) : pipeline(blob.open(), hashing, drain, options));
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error;
    throw new InputError(`cannot read the layer: ${(error as Error).message}`, { where: blob.where, fix: 'the archive is corrupt; export it again' });
  }
  if (read !== blob.size) {
    throw new InputError(`the layer is ${blob.size} bytes, but ${read} could be read`, { where: blob.where, fix: 'the archive changed or is truncated; export it again' });
  }
  const sha256 = whole.digest('hex');
  return { sha256, diffId: decompress ? toDigest(tar.digest('hex')) : undefined, parts: parts.finish(sha256) };
}

/** sha256 of each `partSize` slice of a stream that arrives in chunks of any size. */
class PartHashes {
  readonly #partSize: number | undefined;
  readonly #count: number;
  readonly #done: string[] = [];
  #current: Hash | undefined;
  #left: number;

  constructor(size: number, partSize: number | undefined) {
    this.#partSize = partSize;
    this.#count = partSize === undefined ? 1 : Math.max(1, Math.ceil(size / partSize));
    this.#left = partSize ?? 0;
  }

  update(chunk: Buffer): void {
    if (this.#count === 1) return; // the whole object's hash is its only part's
    let rest = chunk;
    while (rest.length > 0) {
      this.#current ??= createHash('sha256');
      const take = Math.min(this.#left, rest.length);
      this.#current.update(rest.subarray(0, take));
      rest = rest.subarray(take);
      this.#left -= take;
      if (this.#left === 0) this.#next();
    }
  }

  finish(wholeSha256: string): string[] {
    if (this.#count === 1) return [wholeSha256];
    if (this.#current) this.#next();
    return this.#done;
  }

  #next(): void {
    this.#done.push(this.#current!.digest('hex'));
    this.#current = undefined;
    this.#left = this.#partSize!;
  }
}
