import pLimit from 'p-limit';
import { InputError } from '../errors.ts';
import { layerCompression, type Compression } from './compression.ts';
import { digestHex, toDigest } from './digest.ts';
import { layerDigester, type LayerDigester } from './layer-digests.ts';
import type { LayerDigests, V1Image } from './model.ts';

/**
 * Hash every layer (at most `concurrency` at once) and refuse the archive if a layer does
 * not match the digest it declares, or does not unpack to the diff_id its image config
 * gives it. Returns v1 id -> hex sha256 of the layer, which the stores record as the
 * object's checksum.
 */
export async function verifyLayers(images: readonly V1Image[], options: { concurrency: number; digests?: LayerDigester }): Promise<Map<string, string>> {
  const digests = options.digests ?? layerDigester();
  const limit = pLimit(Math.max(1, options.concurrency));
  const sums = Promise.all(
    images.map((image) =>
      limit(async () => {
        const found = await digests(image);
        const actual = found.sha256;
        if (image.layerDigest && digestHex(image.layerDigest) !== actual) {
          throw new InputError(`layer of image ${image.id} does not match its declared digest ${image.layerDigest} (found sha256:${actual})`, {
            where: image.layer.where,
            fix: 'the archive is corrupt or was altered; export it again',
          });
        }
        if (image.diffId !== undefined) checkDiffId(image, await layerCompression(image), found);
        return [image.id, actual] as const;
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

/**
 * Refuse a layer whose uncompressed tar is not the one its image config names: clients
 * check the diff_id when they unpack it, so such an image could never be pulled. A plain
 * tar is its own uncompressed tar; bzip2 and xz layers, which raas cannot decompress, are
 * not checked.
 */
export function checkDiffId(image: V1Image, compression: Compression, digests: LayerDigests): void {
  const found = compression === 'tar' ? toDigest(digests.sha256) : digests.diffId;
  if (image.diffId === undefined || found === undefined || found === image.diffId) return;
  const what = compression === 'tar' ? 'is an uncompressed tar of' : `unpacks (${compression}) to a tar of`;
  throw new InputError(`layer of image ${image.id} ${what} sha256 ${found}, but its image config gives the diff_id ${image.diffId}`, {
    where: image.layer.where,
    fix: 'the archive is corrupt or was altered (layer and config do not belong together); export it again',
  });
}
