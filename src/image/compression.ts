import type { Transform } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { InputError } from '../errors.ts';
import { DOCKER_FOREIGN_LAYER, DOCKER_LAYER, DOCKER_ZSTD_LAYER, OCI_LAYER, OCI_NONDISTRIBUTABLE_LAYER } from './media-types.ts';
import type { Blob, LayerSource } from './model.ts';

/**
 * How a layer's tar is stored, as its first bytes say. Only the magic decides: clients
 * unpack the bytes they get, so the media type and diff_id must describe exactly those.
 */
export type Compression = 'tar' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** The compressions raas can decompress (to compute or check a diff_id) and v2 media types can name. */
export type ReadableCompression = 'tar' | 'gzip' | 'zstd';

/** Bytes read to tell the compressions apart (xz's magic is the longest). */
export const MAGIC_BYTES = 6;

const MAGIC: ReadonlyArray<readonly [Compression, (head: Buffer) => boolean]> = [
  ['gzip', (h) => h[0] === 0x1f && h[1] === 0x8b],
  // A zstd frame, or a skippable frame (magic 0x184D2A5?, little-endian) a zstd stream may begin with.
  ['zstd', (h) => h.readUInt32LE(0) === 0xfd2fb528 || (h.readUInt32LE(0) & 0xfffffff0) === 0x184d2a50],
  ['bzip2', (h) => h.subarray(0, 3).equals(Buffer.from('BZh'))],
  ['xz', (h) => h.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))],
];

/** The compression of a blob's bytes; anything without a known magic is taken for a plain tar. */
export async function magicCompression(blob: Blob): Promise<Compression> {
  const chunks: Buffer[] = [];
  for await (const chunk of blob.open(0, Math.min(MAGIC_BYTES, blob.size))) chunks.push(chunk as Buffer);
  const head = Buffer.concat([...chunks, Buffer.alloc(MAGIC_BYTES)]); // zero padding: short layers match no magic
  return MAGIC.find(([, matches]) => matches(head))?.[0] ?? 'tar';
}

/** Every layer media type raas knows, and the compression it says the bytes have. */
const DECLARED: ReadonlyMap<string, ReadableCompression> = new Map(
  [DOCKER_LAYER, DOCKER_FOREIGN_LAYER, { zstd: DOCKER_ZSTD_LAYER }, OCI_LAYER, OCI_NONDISTRIBUTABLE_LAYER]
    .flatMap((types) => Object.entries(types).map(([compression, mediaType]) => [mediaType, compression as ReadableCompression] as const)),
);

/** The compression a layer media type declares; undefined for a type raas does not know. */
export const declaredCompression = (mediaType: string): ReadableCompression | undefined => DECLARED.get(mediaType);

/**
 * A layer's compression by its magic, checked against the media type its archive declares
 * (OCI descriptors): an archive whose type and bytes disagree is refused, since nothing
 * published from it could be right. Undefined for a type raas does not know (an
 * artifact's blob, an encrypted layer): how such a layer unpacks, if at all, is not raas's
 * to tell.
 */
export async function layerCompression(image: LayerSource): Promise<Compression | undefined> {
  const found = await magicCompression(image.layer);
  if (image.mediaType === undefined) return found;
  const declared = declaredCompression(image.mediaType);
  if (declared === undefined) return undefined;
  if (declared !== found) {
    throw new InputError(`layer of image ${image.id} is declared ${image.mediaType} (${declared}), but its bytes are ${found === 'tar' ? 'a plain tar' : `${found}-compressed`}`, {
      where: image.layer.where,
      fix: 'the archive is inconsistent; export it again',
    });
  }
  return found;
}

/** A stream that decompresses a layer of this compression. */
export function decompressor(compression: 'gzip' | 'zstd'): Transform {
  return compression === 'gzip' ? createGunzip() : createZstdDecompress();
}
