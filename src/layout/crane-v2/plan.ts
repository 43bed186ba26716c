import { digestHex, sha256Hex } from '../../image/digest.ts';
import { BLOB_CONTENT_TYPE, isOciDocument } from '../../image/media-types.ts';
import { v2ImagesOf, type V2Image, type V2Images } from '../../image/v2-images.ts';
import type { ListedObject, Store } from '../../storage/store.ts';
import { objectKey } from '../crane-v1/keys.ts';
import { MIN_COPY_SIZE, type LayoutObject } from '../layout.ts';
import { splitPresent } from '../present.ts';
import { blobKey, listedTags, manifestKey, manifestListKey, ociByDigestKey, tagsListBody, tagsListKey } from './keys.ts';

/**
 * Stages of the v2 layout, after the v1 objects (stage 0) its layers are copied from:
 * blobs, then manifests by digest, then the lists that name them, then tags, then the
 * tag list, so nothing is referenced before it is stored.
 */
const BLOBS = 1;
const BY_DIGEST = 2;
const LISTS = 3;
const BY_TAG = 4;
const TAG_LIST = 5;

/** The objects of the v2 layout for these images, and which of them the store already holds. */
export async function planV2Objects(options: {
  readonly store: Store;
  readonly flatName: string;
  /** The name clients pull, for tags/list. */
  readonly registryId: string;
  readonly images: V2Images;
  readonly listing: ReadonlyMap<string, ListedObject>;
  readonly concurrency: number;
}): Promise<{ write: LayoutObject[]; present: LayoutObject[] }> {
  const { flatName, images } = options;
  const objects = new Map<string, LayoutObject>();
  const add = (object: LayoutObject) => {
    if (!objects.has(object.key)) objects.set(object.key, object);
  };
  const json = (key: string, bytes: Buffer, contentType: string, stage: number): LayoutObject =>
    ({ key, sha256: sha256Hex(bytes), size: bytes.length, contentType, body: bytes, stage });
  /** A manifest or list by digest, and an OCI one where Crane sends containerd for it too (keys.ts). */
  const byDigest = (key: string, digest: string, bytes: Buffer, mediaType: string, stage: number) => {
    add(json(key, bytes, mediaType, stage));
    if (isOciDocument(mediaType)) add(json(ociByDigestKey(flatName, digest), bytes, mediaType, stage));
  };

  const image = ({ digest, bytes, mediaType, config, layers }: V2Image) => {
    for (const { source, facts, foreign, v1Id } of layers) {
      // A foreign layer stays with its host; the manifest's `urls` send clients there.
      if (foreign) continue;
      // Smaller layers are uploaded, and checked against the digest as they are sent.
      const copyFrom = v1Id !== undefined && facts.size >= MIN_COPY_SIZE ? objectKey(flatName, v1Id, 'layer') : undefined;
      add({ key: blobKey(flatName, facts.digest), sha256: digestHex(facts.digest), size: facts.size, contentType: BLOB_CONTENT_TYPE, body: source.layer, layer: source, stage: BLOBS, ...(copyFrom ? { copyFrom } : {}) });
    }
    add(json(blobKey(flatName, config.digest), config.bytes, BLOB_CONTENT_TYPE, BLOBS));
    byDigest(manifestKey(flatName, digest), digest, bytes, mediaType, BY_DIGEST);
  };
  for (const m of images.tags.values()) {
    v2ImagesOf(m).forEach(image);
    if (m.kind === 'index') byDigest(manifestListKey(flatName, m.digest), m.digest, m.bytes, m.mediaType, LISTS);
  }
  images.referrers.forEach(image);
  for (const [tag, m] of images.tags) {
    add(json(m.kind === 'index' ? manifestListKey(flatName, tag) : manifestKey(flatName, tag), m.bytes, m.mediaType, BY_TAG));
  }
  // Earlier pushes' tags stay listed: a push never unpublishes a tag.
  const allTags = [...listedTags(flatName, options.listing.keys()), ...images.tags.keys()];
  add(json(tagsListKey(flatName), tagsListBody(options.registryId, allTags), 'application/json', TAG_LIST));
  return splitPresent({ store: options.store, listing: options.listing, objects: [...objects.values()], concurrency: options.concurrency });
}
