import { sha256Hex, toDigest } from './digest.ts';
import type { Digest, ImageConfig, V1Image } from './model.ts';
import { DOCKER_CONFIG, DOCKER_MANIFEST } from './media-types.ts';
import type { LayerFacts } from './layer-facts.ts';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Go's json.Marshal of a map: keys sorted, compact; nested values keep their order. */
const sortedJson = (value: Json): Buffer =>
  Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))));

// Fields Docker's MakeConfigFromV1Config drops: v1 bookkeeping, and Size, which depends on the disk.
const V1_ONLY = ['id', 'parent', 'Size', 'parent_id', 'layer_id', 'throwaway'];

/**
 * The image config Docker made when it converted a v1 image to v2 (moby image/v1
 * MakeConfigFromV1Config and HistoryFromConfig): the top v1 JSON without its v1-only
 * fields, plus `rootfs` with the layers' diff_ids and one `history` entry per v1 image,
 * base first. Every v1 image here has a layer, so none is an empty_layer.
 */
export function configFromV1(chain: readonly V1Image[], diffIds: readonly Digest[]): ImageConfig {
  const parse = (image: V1Image): Json => {
    const value: unknown = JSON.parse(image.json.toString('utf8'));
    return isObject(value) ? value : {};
  };
  const history = chain.map((image) => {
    const v1 = parse(image);
    const cmd = isObject(v1['container_config']) ? v1['container_config']['Cmd'] : undefined;
    const createdBy = Array.isArray(cmd) ? cmd.filter((c) => typeof c === 'string').join(' ') : undefined;
    const entry: Json = { created: text(v1['created']), author: text(v1['author']), created_by: text(createdBy), comment: text(v1['comment']) };
    return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined));
  });
  const config = parse(chain.at(-1)!);
  for (const key of V1_ONLY) delete config[key];
  const bytes = sortedJson({ ...config, rootfs: { type: 'layers', diff_ids: diffIds }, history });
  return { bytes, digest: toDigest(sha256Hex(bytes)) };
}

export interface Manifest {
  readonly bytes: Buffer;
  readonly digest: Digest;
}

/** A Docker image manifest, schema 2, indented as Docker Distribution writes it. */
export function buildManifest(config: ImageConfig, layers: readonly LayerFacts[]): Manifest {
  const manifest = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: DOCKER_CONFIG, size: config.bytes.length, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest, ...(l.urls ? { urls: l.urls } : {}) })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  return { bytes, digest: toDigest(sha256Hex(bytes)) };
}
