import { digestHex, sha256Hex } from '../../image/digest.ts';
import { BLOB_CONTENT_TYPE, DOCKER_MANIFEST } from '../../image/media-types.ts';
import type { Schema2Images } from '../../image/schema2-images.ts';
import type { ListedObject, Store } from '../../storage/store.ts';
import { objectKey } from '../crane-v1/keys.ts';
import { MIN_COPY_SIZE, type LayoutObject } from '../layout.ts';
import { splitPresent } from '../present.ts';
import { blobKey, listedTags, manifestKey, tagsListBody, tagsListKey } from './keys.ts';

/**
 * Stages of the v2 layout, after the v1 objects (stage 0) its layers are copied from:
 * blobs, then manifests by digest, then by tag, then the tag list, so nothing is
 * referenced before it is stored.
 */
const BLOBS = 1;
const BY_DIGEST = 2;
const BY_TAG = 3;
const TAG_LIST = 4;

/** The objects of the v2 layout for these images, and which of them the store already holds. */
export async function planV2Objects(options: {
  readonly store: Store;
  readonly flatName: string;
  /** The name clients pull, for tags/list. */
  readonly registryId: string;
  readonly images: Schema2Images;
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

  for (const { manifest, config, layers } of images.byTop.values()) {
    for (const { image, facts, foreign } of layers) {
      // A foreign layer stays with its host; the manifest's `urls` send clients there.
      if (foreign) continue;
      // Smaller layers are uploaded, and checked against the digest as they are sent.
      const copyFrom = facts.size >= MIN_COPY_SIZE ? objectKey(flatName, image.id, 'layer') : undefined;
      add({ key: blobKey(flatName, facts.digest), sha256: digestHex(facts.digest), size: facts.size, contentType: BLOB_CONTENT_TYPE, body: image.layer, layer: image, stage: BLOBS, ...(copyFrom ? { copyFrom } : {}) });
    }
    add(json(blobKey(flatName, config.digest), config.bytes, BLOB_CONTENT_TYPE, BLOBS));
    add(json(manifestKey(flatName, manifest.digest), manifest.bytes, DOCKER_MANIFEST, BY_DIGEST));
  }
  for (const [tag, { manifest }] of images.tags) add(json(manifestKey(flatName, tag), manifest.bytes, DOCKER_MANIFEST, BY_TAG));
  // Earlier pushes' tags stay listed: a push never unpublishes a tag.
  const allTags = [...listedTags(flatName, options.listing.keys()), ...images.tags.keys()];
  add(json(tagsListKey(flatName), tagsListBody(options.registryId, allTags), 'application/json', TAG_LIST));
  return splitPresent({ store: options.store, listing: options.listing, objects: [...objects.values()], concurrency: options.concurrency });
}
