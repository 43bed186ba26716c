import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { InputError } from '../errors.ts';
import { digestHex } from './digest.ts';
import type { Blob, V1Image } from './model.ts';

/** Hex sha256 of a blob's bytes, streamed. */
export async function sha256OfBlob(blob: Blob): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of blob.open()) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Hash every layer (at most `concurrency` at once) and refuse the archive if a layer does
 * not match the digest it declares. Returns v1 id -> hex sha256 of the layer, which the
 * stores record as the object's checksum.
 */
export async function verifyLayers(images: readonly V1Image[], options: { concurrency: number }): Promise<Map<string, string>> {
  const limit = pLimit(Math.max(1, options.concurrency));
  const sums = Promise.all(
    images.map((image) =>
      limit(async () => {
        const actual = await sha256OfBlob(image.layer);
        if (image.layerDigest && digestHex(image.layerDigest) !== actual) {
          throw new InputError(`layer of image ${image.id} does not match its declared digest ${image.layerDigest} (found sha256:${actual})`, {
            where: image.layer.where,
            fix: 'the archive is corrupt or was altered; export it again',
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
