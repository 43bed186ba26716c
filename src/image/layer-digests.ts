import { createHash, type Hash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { InputError } from '../errors.ts';
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
    // A compressed layer's diff_id comes from this pass: the v2 manifest needs it where the
    // archive gives none, and verification checks it where the archive does.
    const codec = await compressionOf(image.layer);
    const cached = cache?.get(image.layer, size, codec !== undefined);
    if (cached) return cached;
    const digests = await digestLayer(image.layer, size, codec, signal);
    cache?.set(image.layer, size, digests);
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
async function digestLayer(blob: Blob, partSize: number | undefined, codec: Codec | undefined, signal: AbortSignal | undefined): Promise<LayerDigests> {
  const gunzip = codec !== undefined;
  const whole = createHash('sha256');
  const parts = new PartHashes(blob.size, partSize);
  const tar = createHash('sha256');
  let read = 0;
  const hashing = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      whole.update(chunk);
      parts.update(chunk);
      read += chunk.length;
      if (gunzip) yield chunk;
    }
  };
  const drain = async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) tar.update(chunk);
  };
  try {
    const options = { signal };
    const decompress = codec === 'zstd' ? createZstdDecompress() : createGunzip();
    await (gunzip ? pipeline(blob.open(), hashing, decompress, drain, options) : pipeline(blob.open(), hashing, drain, options));
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error;
    throw new InputError(`cannot read the layer: ${(error as Error).message}`, { where: blob.where, fix: 'the archive is corrupt; export it again' });
  }
  if (read !== blob.size) {
    throw new InputError(`the layer is ${blob.size} bytes, but ${read} could be read`, { where: blob.where, fix: 'the archive changed or is truncated; export it again' });
  }
  const sha256 = whole.digest('hex');
  return { sha256, diffId: gunzip ? toDigest(tar.digest('hex')) : undefined, parts: parts.finish(sha256) };
}

type Codec = 'gzip' | 'zstd';

/** The compression a layer's first bytes announce (gzip, zstd), or undefined for anything else (a plain tar). */
async function compressionOf(blob: Blob): Promise<Codec | undefined> {
  if (blob.size < 4) return undefined;
  const head: Buffer[] = [];
  for await (const chunk of blob.open(0, 4)) head.push(chunk as Buffer);
  const bytes = Buffer.concat(head);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (bytes.equals(ZSTD_MAGIC)) return 'zstd';
  return undefined;
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

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
