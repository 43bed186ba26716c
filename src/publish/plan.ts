import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { Blob, V1Image } from '../image/model.ts';
import type { ListedObject, Store } from '../storage/store.ts';
import { ancestryBytes, CONTENT_TYPES, objectKey, OBJECT_KINDS, type ObjectKind } from './layout.ts';

export interface PlannedObject {
  readonly key: string;
  readonly kind: ObjectKind;
  readonly image: V1Image;
  readonly body: Blob | Buffer;
  readonly size: number;
  readonly contentType: string;
  /** Hex sha256 the bytes must have, when known before reading them. */
  readonly sha256: string | undefined;
}

export interface UploadPlan {
  readonly upload: readonly PlannedObject[];
  readonly present: readonly PlannedObject[];
}

const sha256Hex = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const md5Hex = (data: Buffer): string => createHash('md5').update(data).digest('hex');

function objectsOf(flatName: string, image: V1Image): PlannedObject[] {
  return OBJECT_KINDS.map((kind) => {
    const body = kind === 'layer' ? image.layer : kind === 'json' ? image.json : ancestryBytes(image);
    const sha256 = Buffer.isBuffer(body) ? sha256Hex(body) : image.layerDigest?.slice('sha256:'.length);
    return { key: objectKey(flatName, image.id, kind), kind, image, body, size: Buffer.isBuffer(body) ? body.length : body.size, contentType: CONTENT_TYPES[kind], sha256 };
  });
}

/**
 * Decide what must be uploaded from one listing of the app's prefix. An object counts as
 * already there only when its size matches and its content provably does: small JSON by
 * the single-part ETag (an MD5), anything else by the sha256 raas recorded when it wrote
 * it. ETags alone are not enough: for multipart objects they are not a content hash.
 */
export async function planUploads(options: {
  readonly store: Store;
  readonly flatName: string;
  readonly images: readonly V1Image[];
  readonly listing: ReadonlyMap<string, ListedObject>;
  /** Hashes a layer whose archive gives no digest, only when a same-size object exists. */
  readonly hashBlob: (blob: Blob) => Promise<string>;
  readonly concurrency: number;
}): Promise<UploadPlan> {
  const limit = pLimit(options.concurrency);
  const decisions = await Promise.all(
    options.images.flatMap((image) => objectsOf(options.flatName, image)).map((object) =>
      limit(async () => {
        const listed = options.listing.get(object.key);
        if (!listed || listed.size !== object.size) return { object, present: false };
        if (Buffer.isBuffer(object.body) && listed.etag === md5Hex(object.body)) return { object, present: true };
        const stored = await options.store.stat(object.key);
        if (!stored?.sha256) return { object, present: false };
        const expected = object.sha256 ?? (await options.hashBlob(object.body as Blob));
        return { object, present: stored.sha256 === expected };
      }),
    ),
  );
  return {
    upload: decisions.filter((d) => !d.present).map((d) => d.object),
    present: decisions.filter((d) => d.present).map((d) => d.object),
  };
}
