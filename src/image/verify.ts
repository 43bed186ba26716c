import pLimit from 'p-limit';
import { InputError } from '../errors.ts';
import { digestHex } from './digest.ts';
import { layerDigester, type LayerDigester } from './layer-digests.ts';
import type { LayerSource } from './model.ts';

/**
 * Hash every layer (at most `concurrency` at once) and refuse the archive if a layer does
 * not match the digest it declares. Returns v1 id -> hex sha256 of the layer, which the
 * stores record as the object's checksum.
 */
export async function verifyLayers(images: readonly LayerSource[], options: { concurrency: number; digests?: LayerDigester }): Promise<Map<string, string>> {
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
        // What clients check when they unpack: the uncompressed tar is the config's diff_id.
        const uncompressed = found.diffId ?? `sha256:${actual}`;
        if (image.diffId && image.diffId !== uncompressed) {
          throw new InputError(`layer of image ${image.id} unpacks to ${uncompressed}, but the image config lists its diff_id as ${image.diffId}`, {
            where: image.layer.where,
            fix: 'the archive is inconsistent (its config does not describe its layers); export it again',
          });
        }
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
