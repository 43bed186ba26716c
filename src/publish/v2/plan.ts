import pLimit from 'p-limit';
import { digestHex, sha256Hex } from '../../image/digest.ts';
import type { LayerDigester } from '../../image/layer-digests.ts';
import type { Blob, ImageRepository, V1Image } from '../../image/model.ts';
import type { ListedObject, Store } from '../../storage/store.ts';
import { objectKey } from '../layout.ts';
import { MIN_COPY_SIZE } from '../plan.ts';
import { buildManifest, configFromV1, type Manifest } from './image.ts';
import { layerFacts } from './layers.ts';
import { BLOB_CONTENT_TYPE, blobKey, listedTags, MANIFEST_TYPE, manifestKey, tagsListBody, tagsListKey } from './layout.ts';

/** One object of the v2 layout, with the sha256 it must have. */
export interface V2Object {
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  readonly contentType: string;
  readonly body: Blob | Buffer;
  /** The v1 layer object with the same bytes, copied server-side rather than uploaded again (layers of 1 MiB and more). */
  readonly copyFrom: string | undefined;
  /**
   * Written only after every object of a lower stage, so nothing is referenced before it
   * is there: blobs (0), manifests by digest (1), by tag (2), the tag list (3).
   */
  readonly stage: 0 | 1 | 2 | 3;
}

export interface V2Plan {
  /** tag -> its manifest. */
  readonly manifests: ReadonlyMap<string, Manifest>;
  /** tag -> the masked image whose host is not known, so v2 clients cannot be sent to its layer. */
  readonly unservable: ReadonlyMap<string, string>;
  readonly write: readonly V2Object[];
  readonly present: readonly V2Object[];
}

export interface V2PlanOptions {
  readonly store: Store;
  readonly flatName: string;
  /** The name clients pull, for tags/list. */
  readonly registryId: string;
  readonly repo: ImageRepository;
  readonly tags: ReadonlyMap<string, string>;
  /**
   * Images whose layers another party hosts (never stored here), with the URL it serves
   * each layer at, from its Crane metadata; undefined when only the mask list names it.
   */
  readonly masked: ReadonlyMap<string, string | undefined>;
  readonly listing: ReadonlyMap<string, ListedObject>;
  readonly concurrency: number;
  /** The push's one reading pass per layer. */
  readonly digests: LayerDigester;
}

/**
 * Everything the v2 layout needs for these tags, and which of it the store already holds.
 * Layers are read (hashed where the archive declares no digest) before anything is
 * written, so an archive v2 cannot describe is refused with nothing changed.
 */
export async function planV2(options: V2PlanOptions): Promise<V2Plan> {
  const { flatName, repo, tags } = options;
  const limit = pLimit(Math.max(1, options.concurrency));
  const byId = new Map(repo.images.map((image) => [image.id, image]));
  const chainOf = (top: string): V1Image[] => [...byId.get(top)!.ancestry].reverse().map((id) => byId.get(id)!);
  const { masked } = options;
  const unhosted = (top: string): V1Image | undefined => chainOf(top).find((image) => masked.has(image.id) && !masked.get(image.id));
  const tops = [...new Set(tags.values())].filter((top) => !unhosted(top));
  const layerImages = [...new Set(tops.flatMap((top) => chainOf(top)))];
  const facts = new Map(await Promise.all(layerImages.map((image) => limit(async () => [image.id, await layerFacts(image, masked.get(image.id), options.digests)] as const))));

  const objects = new Map<string, V2Object>();
  const add = (object: V2Object) => {
    if (!objects.has(object.key)) objects.set(object.key, object);
  };
  const json = (key: string, bytes: Buffer, contentType: string, stage: V2Object['stage']): V2Object =>
    ({ key, sha256: sha256Hex(bytes), size: bytes.length, contentType, body: bytes, copyFrom: undefined, stage });

  const byTop = new Map<string, Manifest>();
  for (const top of tops) {
    const chain = chainOf(top);
    const layers = chain.map((image) => facts.get(image.id)!);
    const config = chain.at(-1)!.config ?? configFromV1(chain, layers.map((l) => l.diffId));
    chain.forEach((image, i) => {
      // A masked layer stays with its host; the manifest's `urls` send clients there.
      if (masked.has(image.id)) return;
      const { digest, size } = layers[i]!;
      // Smaller layers are uploaded, and checked against the digest as they are sent.
      const copyFrom = size >= MIN_COPY_SIZE ? objectKey(flatName, image.id, 'layer') : undefined;
      add({ key: blobKey(flatName, digest), sha256: digestHex(digest), size, contentType: BLOB_CONTENT_TYPE, body: image.layer, copyFrom, stage: 0 });
    });
    add(json(blobKey(flatName, config.digest), config.bytes, BLOB_CONTENT_TYPE, 0));
    const manifest = buildManifest(config, layers);
    add(json(manifestKey(flatName, manifest.digest), manifest.bytes, MANIFEST_TYPE, 1));
    byTop.set(top, manifest);
  }
  const manifests = new Map([...tags].filter(([, top]) => byTop.has(top)).map(([tag, top]) => [tag, byTop.get(top)!]));
  const unservable = new Map([...tags].filter(([, top]) => !byTop.has(top)).map(([tag, top]) => [tag, unhosted(top)!.id]));
  for (const [tag, manifest] of manifests) add(json(manifestKey(flatName, tag), manifest.bytes, MANIFEST_TYPE, 2));
  // Earlier pushes' tags stay listed: a push never unpublishes a tag.
  const allTags = [...listedTags(flatName, options.listing.keys()), ...manifests.keys()];
  add(json(tagsListKey(flatName), tagsListBody(options.registryId, allTags), 'application/json', 3));

  const decisions = await Promise.all([...objects.values()].map((object) => limit(async () => ({ object, present: await isPresent(options, object) }))));
  return {
    manifests,
    unservable,
    write: decisions.filter((d) => !d.present).map((d) => d.object),
    present: decisions.filter((d) => d.present).map((d) => d.object),
  };
}

/** There with these bytes: the size the listing shows and the sha256 raas recorded when it wrote the object. */
async function isPresent(options: V2PlanOptions, object: V2Object): Promise<boolean> {
  const listed = options.listing.get(object.key);
  if (!listed || listed.size !== object.size) return false;
  return (await options.store.stat(object.key))?.sha256 === object.sha256;
}
