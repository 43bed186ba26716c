import { InputError } from '../errors.ts';
import type { ReadableCompression } from './compression.ts';
import { toDigest } from './digest.ts';
import { layerDigester, type LayerDigester } from './layer-digests.ts';
import type { Digest, V1Image } from './model.ts';
import { DOCKER_FOREIGN_LAYER, DOCKER_LAYER, DOCKER_MANIFEST, OCI_LAYER, OCI_MANIFEST } from './media-types.ts';
import { checkDiffId, checkedCompression } from './verify.ts';

/** What a v2 manifest and config say about one layer. */
export interface LayerFacts {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
  /** sha256 of the uncompressed tar (rootfs.diff_ids). */
  readonly diffId: Digest;
  /** Where another party serves the layer (a masked layer); clients fetch it there. */
  readonly urls: readonly string[] | undefined;
  /** How the layer's bytes are compressed, by their magic (and as the archive declares, when it does). */
  readonly compression: ReadableCompression;
}

/** The manifests a layer can be described in. */
export type ManifestType = typeof DOCKER_MANIFEST | typeof OCI_MANIFEST;

/** Whether only an OCI manifest can describe the layer: Docker's media types name no zstd layer. */
export const needsOciManifest = (facts: Pick<LayerFacts, 'compression'>): boolean => facts.compression === 'zstd';

/**
 * Digest, media type and diff_id of a layer, and the URL of a layer another party hosts,
 * for a manifest of `manifestType`. In a Docker manifest the layer gets Docker's type for
 * its compression (registry clients refuse other vocabularies there), and a zstd layer is
 * refused; in an OCI manifest it keeps the type its archive declares (else OCI's for its
 * compression), and a hosted layer is told by its `urls` alone.
 *
 * Archives that declare digests (OCI, docker-archive) are trusted here because every byte
 * is checked against them, and against the config's diff_ids, before it is stored
 * (verify.ts); layers without (Pulp) are hashed, and compressed layers without a diff_id
 * from a config are decompressed in the same read (by the push's digester, which every
 * other reader of the layer shares).
 */
export async function layerFacts(
  image: V1Image,
  hostedAt?: string,
  digests: LayerDigester = layerDigester(),
  manifestType: ManifestType = DOCKER_MANIFEST,
): Promise<LayerFacts> {
  const compression = await checkedCompression(image, digests);
  if (compression === 'bzip2' || compression === 'xz') {
    throw new InputError(`layer of image ${image.id} is ${compression}-compressed; v2 manifests describe only plain, gzip- and zstd-compressed layers`, {
      where: image.layer.where,
      fix: 'recompress the image, e.g. skopeo copy --dest-compress-format gzip, and export it again',
    });
  }
  if (manifestType === DOCKER_MANIFEST && needsOciManifest({ compression })) {
    throw new InputError(`layer of image ${image.id} is zstd-compressed; zstd layers need an OCI manifest, and raas describes this image with a Docker schema 2 manifest`, {
      where: image.layer.where,
      fix: 'recompress the image with gzip (skopeo copy --dest-compress-format gzip) and export it again',
    });
  }
  const needDiffId = compression !== 'tar' && image.diffId === undefined;
  const hashed = image.layerDigest === undefined || needDiffId ? await digests(image) : undefined;
  if (hashed) checkDiffId(image, compression, hashed);
  const digest = image.layerDigest ?? toDigest(hashed!.sha256);
  const diffId = compression === 'tar' ? digest : (image.diffId ?? hashed!.diffId!);
  if (image.diffId !== undefined && image.diffId !== diffId) {
    throw new InputError(`the image config gives layer ${digest} the diff_id ${image.diffId}, but the layer is an uncompressed tar whose digest is its diff_id`, {
      where: image.layer.where,
      fix: 'the archive is inconsistent; export it again',
    });
  }
  const mediaType = manifestType === OCI_MANIFEST
    ? (image.mediaType ?? OCI_LAYER[compression])
    : (hostedAt ? DOCKER_FOREIGN_LAYER : DOCKER_LAYER)[compression as 'tar' | 'gzip'];
  return { digest, size: image.layer.size, mediaType, diffId, urls: hostedAt ? [hostedAt] : undefined, compression };
}
