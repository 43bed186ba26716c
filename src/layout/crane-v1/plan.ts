import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { V1Image } from '../../image/model.ts';
import type { ListedObject, Store } from '../../storage/store.ts';
import { MIN_COPY_SIZE, type LayoutObject } from '../layout.ts';
import { ancestryBytes, CONTENT_TYPES, objectKey, OBJECT_KINDS, type ObjectKind } from './keys.ts';

/** A v1 object: which image it belongs to, and which of its three files it is. */
export interface V1Object extends LayoutObject {
  readonly kind: ObjectKind;
  readonly image: V1Image;
}

export interface V1Plan {
  /** Objects to write: uploaded, or copied when they have `copyFrom`. */
  readonly write: readonly V1Object[];
  readonly present: readonly V1Object[];
}

/** Keys of the store root read when looking for layers to copy: enough for the apps of a few ISVs, at 1000 keys a request. */
const SIBLING_KEYS = 20_000;
/** Same-size layers of other apps checked per layer (a HEAD each); the same v1 id is checked first. */
const MAX_CANDIDATES = 3;
const LAYER_KEY = /^([^/]+)\/([0-9a-f]{64})\/layer$/;

const sha256Hex = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const md5Hex = (data: Buffer): string => createHash('md5').update(data).digest('hex');

// Crane v1 reads nothing in storage on its own: only the redirect file, deployed after every stage, names these objects.
function objectsOf(flatName: string, image: V1Image): V1Object[] {
  return OBJECT_KINDS.map((kind) => {
    const body = kind === 'layer' ? image.layer : kind === 'json' ? image.json : ancestryBytes(image);
    const sha256 = Buffer.isBuffer(body) ? sha256Hex(body) : image.layerDigest?.slice('sha256:'.length);
    return {
      key: objectKey(flatName, image.id, kind), kind, image, body, size: Buffer.isBuffer(body) ? body.length : body.size,
      contentType: CONTENT_TYPES[kind], sha256, stage: 0, ...(kind === 'layer' ? { layer: image } : {}),
    };
  });
}

/**
 * Decide what must be written from one listing of the app's prefix. An object counts as
 * already there only when its size matches and its content provably does: small JSON by
 * the single-part ETag (an MD5), anything else by the sha256 raas recorded when it wrote
 * it. ETags alone are not enough: for multipart objects they are not a content hash.
 *
 * A missing layer that another app of the store already holds (same size and recorded
 * sha256, found in one bounded listing of the store root) is copied server-side instead
 * of uploaded: apps of one ISV share base layers, and pushing an image under a second
 * name should not send its bytes again.
 */
export async function planV1(options: {
  readonly store: Store;
  readonly flatName: string;
  readonly images: readonly V1Image[];
  readonly listing: ReadonlyMap<string, ListedObject>;
  /** Hex sha256 of a layer whose archive gives no digest, asked only when a same-size object exists. */
  readonly hashLayer: (image: V1Image) => Promise<string>;
  readonly concurrency: number;
}): Promise<V1Plan> {
  const { store } = options;
  const limit = pLimit(options.concurrency);
  const hashes = new Map<V1Object, Promise<string>>();
  const expected = (object: V1Object): Promise<string> => {
    if (object.sha256 !== undefined) return Promise.resolve(object.sha256);
    if (!hashes.has(object)) hashes.set(object, options.hashLayer(object.image));
    return hashes.get(object)!;
  };
  const holds = async (key: string, object: V1Object): Promise<boolean> => (await store.stat(key))?.sha256 === (await expected(object));

  const objects = options.images.flatMap((image) => objectsOf(options.flatName, image));
  const present = await Promise.all(
    objects.map((object) =>
      limit(async () => {
        const listed = options.listing.get(object.key);
        if (!listed || listed.size !== object.size) return false;
        if (Buffer.isBuffer(object.body) && listed.etag === md5Hex(object.body)) return true;
        return holds(object.key, object);
      }),
    ),
  );
  const missing = objects.filter((_, i) => !present[i]);
  const copyable = missing.filter((o) => o.kind === 'layer' && o.size >= MIN_COPY_SIZE);
  const sources = copyable.length > 0 ? await siblingLayers(store, options.flatName) : new Map<number, string[]>();
  const copies = await Promise.all(
    copyable.map((object) =>
      limit(async () => {
        const sameId = (key: string) => Number(!key.includes(`/${object.image.id}/`));
        const candidates = [...(sources.get(object.size) ?? [])].sort((a, b) => sameId(a) - sameId(b)).slice(0, MAX_CANDIDATES);
        for (const key of candidates) {
          if (await holds(key, object)) return [[object, { ...object, sha256: await expected(object), copyFrom: key }] as const];
        }
        return [];
      }),
    ),
  );
  const copied = new Map(copies.flat());
  return {
    write: missing.map((object) => copied.get(object) ?? object),
    present: objects.filter((_, i) => present[i]),
  };
}

/** Layer keys of the other apps in the store, by size. */
async function siblingLayers(store: Store, flatName: string): Promise<Map<number, string[]>> {
  const bySize = new Map<number, string[]>();
  for (const [key, { size }] of await store.list('', { limit: SIBLING_KEYS })) {
    const app = LAYER_KEY.exec(key)?.[1];
    if (app === undefined || app === flatName || size < MIN_COPY_SIZE) continue;
    const keys = bySize.get(size) ?? [];
    keys.push(key);
    bySize.set(size, keys);
  }
  return bySize;
}
