import { InputError } from '../errors.ts';
import type { ReadableCompression } from './compression.ts';
import { toDigest } from './digest.ts';
import type { LayerHost } from './hosted.ts';
import { layerDigester, type LayerDigester } from './layer-digests.ts';
import type { Digest, LayerSource } from './model.ts';
import { DOCKER_FOREIGN_LAYER, DOCKER_LAYER } from './media-types.ts';
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
  /**
   * How the described bytes are compressed, where raas described them: by their magic
   * (agreeing with the archive's declared type), or as the host's blob is.
   */
  readonly compression?: ReadableCompression;
}

/**
 * Digest, media type and diff_id of a layer in a Docker schema 2 manifest raas builds, and
 * the URL of a layer another party hosts. A layer whose host's blob is known is described
 * as that blob (the archive's bytes may be compressed otherwise, and are neither read nor
 * published). Docker's media types name plain and gzip layers only: a zstd layer (which
 * an OCI manifest could describe) is refused here, as are bzip2 and xz.
 *
 * Archives that declare digests (OCI, docker-archive) are trusted here because every byte
 * is checked against them, and against the config's diff_ids, before it is stored
 * (verify.ts); layers without (Pulp) are hashed, and compressed layers without a diff_id
 * from a config are decompressed in the same read (by the push's digester, which every
 * other reader of the layer shares).
 */
export async function layerFacts(image: LayerSource, hostedAt?: LayerHost, digests: LayerDigester = layerDigester()): Promise<LayerFacts> {
  if (typeof hostedAt === 'object') {
    const { digest, size, diffId, compression, url } = hostedAt;
    return { digest, size, mediaType: DOCKER_FOREIGN_LAYER[compression], diffId, urls: [url], compression };
  }
  const compression = await checkedCompression(image, digests);
  if (compression === undefined) {
    throw new InputError(`layer of image ${image.id} has media type ${image.mediaType}, which a Docker schema 2 manifest cannot name`, {
      where: image.layer.where,
      fix: 'export the image with plain or gzip layers, e.g. with skopeo copy --dest-compress-format gzip',
    });
  }
  if (compression !== 'tar' && compression !== 'gzip') {
    const why = compression === 'zstd'
      ? 'zstd layers need an OCI manifest, and raas builds a Docker schema 2 manifest for this image'
      : 'v2 manifests describe only plain, gzip- and zstd-compressed layers';
    throw new InputError(`layer of image ${image.id} is ${compression}-compressed; ${why}`, {
      where: image.layer.where,
      fix: 'recompress the image, e.g. skopeo copy --dest-compress-format gzip, and export it again',
    });
  }
  const needDiffId = compression === 'gzip' && image.diffId === undefined;
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
  const mediaType = hostedAt ? DOCKER_FOREIGN_LAYER[compression] : DOCKER_LAYER[compression];
  return { digest, size: image.layer.size, mediaType, diffId, urls: hostedAt ? [hostedAt] : undefined, compression };
}
