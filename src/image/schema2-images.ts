import pLimit from 'p-limit';
import type { LayerHost } from './hosted.ts';
import type { LayerDigester } from './layer-digests.ts';
import { layerFacts, type LayerFacts } from './layer-facts.ts';
import type { ImageConfig, ImageRepository, V1Image } from './model.ts';
import { buildManifest, configFromV1, type Manifest } from './schema2.ts';

/** One tagged image as a Docker schema 2 manifest, its config, and its layers base first. */
export interface Schema2Image {
  readonly top: string;
  readonly manifest: Manifest;
  readonly config: ImageConfig;
  readonly layers: readonly { readonly image: V1Image; readonly facts: LayerFacts; readonly foreign: boolean }[];
}

export interface Schema2Images {
  /** v1 id of a tagged top image -> its schema 2 form. */
  readonly byTop: ReadonlyMap<string, Schema2Image>;
  /** tag -> its manifest, for every tag that has one. */
  readonly tags: ReadonlyMap<string, Schema2Image>;
  /** tag -> the foreign image whose host is not known, so v2 clients cannot be sent to its layer. */
  readonly unservable: ReadonlyMap<string, string>;
}

/**
 * The tagged images of a repository as Docker schema 2 manifests, as the v2 layouts
 * (crane-v2, distribution) publish them. Layers in `foreign` stay with the party that hosts
 * them: their descriptors are foreign layers with the host's URL. Every layer is read
 * (hashed where the archive declares no digest) before anything is written, so an archive
 * v2 cannot describe is refused with nothing changed.
 */
export async function schema2Images(options: {
  readonly repo: ImageRepository;
  readonly tags: ReadonlyMap<string, string>;
  /** v1 id -> where its host serves the layer (undefined: not known). */
  readonly foreign: ReadonlyMap<string, LayerHost>;
  readonly digests: LayerDigester;
  readonly concurrency: number;
}): Promise<Schema2Images> {
  const { repo, tags, foreign } = options;
  const limit = pLimit(Math.max(1, options.concurrency));
  const byId = new Map(repo.images.map((image) => [image.id, image]));
  const chainOf = (top: string): V1Image[] => [...byId.get(top)!.ancestry].reverse().map((id) => byId.get(id)!);
  const unhosted = (top: string): V1Image | undefined => chainOf(top).find((image) => foreign.has(image.id) && !foreign.get(image.id));
  const tops = [...new Set(tags.values())].filter((top) => !unhosted(top));
  const layerImages = [...new Set(tops.flatMap((top) => chainOf(top)))];
  const facts = new Map(await Promise.all(layerImages.map((image) => limit(async () => [image.id, await layerFacts(image, foreign.get(image.id), options.digests)] as const))));

  const byTop = new Map<string, Schema2Image>();
  for (const top of tops) {
    const chain = chainOf(top);
    const layers = chain.map((image) => ({ image, facts: facts.get(image.id)!, foreign: foreign.has(image.id) }));
    const config = chain.at(-1)!.config ?? configFromV1(chain, layers.map((l) => l.facts.diffId));
    byTop.set(top, { top, manifest: buildManifest(config, layers.map((l) => l.facts)), config, layers });
  }
  return {
    byTop,
    tags: new Map([...tags].filter(([, top]) => byTop.has(top)).map(([tag, top]) => [tag, byTop.get(top)!])),
    unservable: new Map([...tags].filter(([, top]) => !byTop.has(top)).map(([tag, top]) => [tag, unhosted(top)!.id])),
  };
}
