import { InputError } from '../errors.ts';
import { toDigest } from './digest.ts';
import type { LayerHost } from './hosted.ts';
import { layerDigester, type LayerDigester } from './layer-digests.ts';
import type { Digest, LayerSource } from './model.ts';
import { DOCKER_FOREIGN_LAYER, DOCKER_LAYER } from './media-types.ts';

/** What a v2 manifest and config say about one layer. */
export interface LayerFacts {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
  /** sha256 of the uncompressed tar (rootfs.diff_ids). */
  readonly diffId: Digest;
  /** Where another party serves the layer (a masked layer); clients fetch it there. */
  readonly urls: readonly string[] | undefined;
}

type Compression = keyof typeof DOCKER_LAYER;

// Formats Docker v1 clients unpacked but Docker's v2 layer media types cannot name.
const UNNAMEABLE: ReadonlyArray<readonly [string, Buffer]> = [
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['bzip2', Buffer.from('BZh')],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
];

/**
 * The compression the bytes have, whatever the archive declares: clients unpack what
 * they get, and the media type and diff_id must describe exactly that.
 */
async function compressionOf(image: LayerSource): Promise<Compression> {
  const chunks: Buffer[] = [];
  for await (const chunk of image.layer.open(0, Math.min(6, image.layer.size))) chunks.push(chunk as Buffer);
  const head = Buffer.concat(chunks);
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  const other = UNNAMEABLE.find(([, magic]) => head.subarray(0, magic.length).equals(magic));
  if (other) {
    throw new InputError(`layer of image ${image.id} is ${other[0]}-compressed; Docker v2 manifests describe only plain and gzip-compressed layers`, {
      where: image.layer.where,
      fix: 'recompress the image, e.g. skopeo copy --dest-compress-format gzip, and export it again',
    });
  }
  return 'tar';
}

/**
 * Digest, media type and diff_id of a layer, and the URL of a layer another party hosts.
 * A layer whose host's blob is known is described as that blob (the archive's bytes may be
 * compressed otherwise, and are neither read nor published). Archives that declare digests (OCI,
 * docker-archive) are trusted here because every byte is checked against them before it
 * is stored; layers without (Pulp) are hashed, and gzip layers without a diff_id from a
 * config are gunzipped in the same read (by the push's digester, which every other reader
 * of the layer shares).
 */
export async function layerFacts(image: LayerSource, hostedAt?: LayerHost, digests: LayerDigester = layerDigester()): Promise<LayerFacts> {
  if (typeof hostedAt === 'object') {
    const { digest, size, diffId, compression, url } = hostedAt;
    return { digest, size, mediaType: DOCKER_FOREIGN_LAYER[compression], diffId, urls: [url] };
  }
  const compression = await compressionOf(image);
  const needDiffId = compression === 'gzip' && image.diffId === undefined;
  const hashed = image.layerDigest === undefined || needDiffId ? await digests(image) : undefined;
  const digest = image.layerDigest ?? toDigest(hashed!.sha256);
  const diffId = compression === 'tar' ? digest : (image.diffId ?? hashed!.diffId!);
  if (image.diffId !== undefined && image.diffId !== diffId) {
    throw new InputError(`the image config gives layer ${digest} the diff_id ${image.diffId}, but the layer is an uncompressed tar whose digest is its diff_id`, {
      where: image.layer.where,
      fix: 'the archive is inconsistent; export it again',
    });
  }
  const mediaType = hostedAt ? DOCKER_FOREIGN_LAYER[compression] : DOCKER_LAYER[compression];
  return { digest, size: image.layer.size, mediaType, diffId, urls: hostedAt ? [hostedAt] : undefined };
}
