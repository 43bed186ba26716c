import pLimit from 'p-limit';
import { InputError } from '../errors.ts';
import { layerCompression, type Compression } from './compression.ts';
import { digestHex, toDigest } from './digest.ts';
import { layerDigester, type LayerDigester } from './layer-digests.ts';
import type { LayerDigests, LayerSource } from './model.ts';

/**
 * Hash every layer (at most `concurrency` at once) and refuse the archive if a layer does
 * not match the digest it declares, is not the compression its media type declares, or
 * does not unpack to the diff_id its image config gives it. Returns v1 id -> hex sha256 of
 * the layer, which the stores record as the object's checksum.
 */
export async function verifyLayers(images: readonly LayerSource[], options: { concurrency: number; digests?: LayerDigester }): Promise<Map<string, string>> {
  const digests = options.digests ?? layerDigester();
  const limit = pLimit(Math.max(1, options.concurrency));
  const sums = Promise.all(
    images.map((image) =>
      limit(async () => {
        const found = await digests(image);
        checkDigest(image, found.sha256);
        const compression = await layerCompression(image);
        if (compression !== undefined) checkDiffId(image, compression, found);
        return [image.id, found.sha256] as const;
      }),
    ),
  );
  try {
    return new Map(await sums);
  } catch (err) {
    limit.clearQueue(); // the archive is refused; hashing the rest would only cost time
    throw err;
  }
}

function checkDigest(image: LayerSource, sha256: string): void {
  if (image.layerDigest && digestHex(image.layerDigest) !== sha256) {
    throw new InputError(`layer of image ${image.id} does not match its declared digest ${image.layerDigest} (found sha256:${sha256})`, {
      where: image.layer.where,
      fix: 'the archive is corrupt or was altered; export it again',
    });
  }
}

/**
 * The layer's compression, checked against its declared media type (compression.ts). Bytes
 * that are not what the archive declares may be corrupt ones, so those are hashed first
 * and refused for their digest when that is what is wrong with them.
 */
export async function checkedCompression(image: LayerSource, digests: LayerDigester): Promise<Compression | undefined> {
  try {
    return await layerCompression(image);
  } catch (error) {
    if (image.layerDigest !== undefined) checkDigest(image, (await digests(image)).sha256);
    throw error;
  }
}

/**
 * Refuse a layer whose uncompressed tar is not the one its image config names: clients
 * check the diff_id when they unpack it, so such an image could never be pulled. A plain
 * tar is its own uncompressed tar; bzip2 and xz layers, which raas cannot decompress, are
 * not checked.
 */
export function checkDiffId(image: LayerSource, compression: Compression, digests: LayerDigests): void {
  const found = compression === 'tar' ? toDigest(digests.sha256) : digests.diffId;
  if (image.diffId === undefined || found === undefined || found === image.diffId) return;
  throw new InputError(`layer of image ${image.id} (${compression === 'tar' ? 'a plain tar' : compression}) unpacks to ${found}, but the image config lists its diff_id as ${image.diffId}`, {
    where: image.layer.where,
    fix: 'the archive is corrupt or was altered (layer and config do not belong together); export it again',
  });
}
