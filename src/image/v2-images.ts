import pLimit from 'p-limit';
import type { LayerHost } from './hosted.ts';
import type { LayerDigester } from './layer-digests.ts';
import { layerFacts, type LayerFacts } from './layer-facts.ts';
import { imagesOf, type ArchivedImage, type ArchivedIndex, type ArchivedManifest, type Digest, type ImageConfig, type ImageRepository, type LayerSource, type V1Image } from './model.ts';
import { DOCKER_MANIFEST } from './media-types.ts';
import { buildManifest, configFromV1 } from './schema2.ts';

/** A layer as a v2 manifest describes it, and the bytes behind it. */
export interface V2Layer {
  readonly source: LayerSource;
  readonly facts: LayerFacts;
  /** Another party hosts it (a masked layer): never stored, its descriptor sends clients there. */
  readonly foreign: boolean;
  /** The v1 image whose layer it is, when it is one (crane-v2 copies its blob from the v1 object). */
  readonly v1Id: string | undefined;
}

/** One image manifest the v2 layouts store: the archive's (or one built), with its layers as they are described. */
export interface V2Image extends Omit<ArchivedImage, 'config' | 'layers' | 'subject'> {
  readonly config: ImageConfig;
  readonly layers: readonly V2Layer[];
}

/** An image index (or manifest list) and the manifests it lists, all stored. */
export interface V2Index extends Omit<ArchivedIndex, 'manifests'> {
  readonly manifests: readonly V2Image[];
}

export type V2Manifest = V2Image | V2Index;

/** Every image manifest of `m`: itself, or the ones its index lists. */
export const v2ImagesOf = (m: V2Manifest): readonly V2Image[] => (m.kind === 'image' ? [m] : m.manifests);

export interface V2Images {
  /** tag -> what it names, for every tag that has a v2 manifest. */
  readonly tags: ReadonlyMap<string, V2Manifest>;
  /** Manifests attached to the published ones by `subject` (signatures, SBOMs), stored by digest. */
  readonly referrers: readonly V2Image[];
  /** tag -> the foreign image whose host is not known, so v2 clients cannot be sent to its layer. */
  readonly unservable: ReadonlyMap<string, string>;
  /** tag -> why it is published in another form than the archive's (masked layers change its manifest). */
  readonly rebuilt: ReadonlyMap<string, string>;
}

/**
 * What the v2 layouts (crane-v2, distribution) publish for each tag. Where the archive holds
 * manifests (OCI), they are published as archived, byte for byte: an index with every
 * platform's manifest, OCI manifests as OCI, the archive's digests. A masked layer changes
 * the manifest (its descriptor becomes a foreign layer with the host's URL), so a tag with
 * one, and every tag of an archive without manifests (Pulp, docker save), gets a Docker
 * schema 2 manifest built from the v1 view, as Docker's own v1-to-v2 migration built them.
 * Layers of built manifests are read (hashed where the archive declares no digest) before
 * anything is written, so an archive v2 cannot describe is refused with nothing changed.
 */
export async function v2Images(options: {
  readonly repo: ImageRepository;
  readonly tags: ReadonlyMap<string, string>;
  /** v1 id -> where its host serves the layer (undefined: not known). */
  readonly foreign: ReadonlyMap<string, LayerHost>;
  readonly digests: LayerDigester;
  readonly concurrency: number;
}): Promise<V2Images> {
  const { repo, tags, foreign } = options;
  const limit = pLimit(Math.max(1, options.concurrency));
  const byId = new Map(repo.images.map((image) => [image.id, image]));
  const chainOf = (top: string): V1Image[] => [...byId.get(top)!.ancestry].reverse().map((id) => byId.get(id)!);
  const maskedDigests = new Set(repo.images.filter((i) => foreign.has(i.id) && i.layerDigest).map((i) => i.layerDigest!));
  const rebuilt = new Map<string, string>();

  // The archive's manifest for a tag's image (a tag given with --tag names an image another tag names).
  const archivedFor = (tag: string, top: string): ArchivedManifest | undefined => {
    if (!repo.manifests) return undefined;
    const own = repo.tags.get(tag) === top ? repo.manifests.get(tag) : undefined;
    if (own) return own;
    const alias = [...repo.tags].find(([t, id]) => id === top && repo.manifests!.has(t));
    return alias && repo.manifests.get(alias[0]);
  };
  const archived = new Map<string, ArchivedManifest>();
  for (const [tag, top] of tags) {
    const m = archivedFor(tag, top);
    if (!m) continue;
    if (imagesOf(m).some((image) => image.layers.some((l) => l.layerDigest && maskedDigests.has(l.layerDigest)))) {
      rebuilt.set(tag, m.kind === 'index'
        ? 'its linux/amd64 image alone, as a Docker schema 2 manifest: masked layers change the manifest'
        : 'a Docker schema 2 manifest: masked layers change the manifest');
      continue;
    }
    archived.set(tag, m);
  }

  // Built manifests: tags without an archived one.
  const unhosted = (top: string): V1Image | undefined => chainOf(top).find((image) => foreign.has(image.id) && !foreign.get(image.id));
  const builtTops = [...new Set([...tags].filter(([tag]) => !archived.has(tag)).map(([, top]) => top))].filter((top) => !unhosted(top));
  const layerImages = [...new Set(builtTops.flatMap((top) => chainOf(top)))];
  const facts = new Map(await Promise.all(layerImages.map((image) => limit(async () => [image.id, await layerFacts(image, foreign.get(image.id), options.digests)] as const))));
  const built = new Map<string, V2Image>();
  for (const top of builtTops) {
    const chain = chainOf(top);
    const layers = chain.map((image) => ({ source: image, facts: facts.get(image.id)!, foreign: foreign.has(image.id), v1Id: image.id }));
    const config = chain.at(-1)!.config ?? configFromV1(chain, layers.map((l) => l.facts.diffId));
    const manifest = buildManifest(config, layers.map((l) => l.facts));
    built.set(top, { kind: 'image', mediaType: DOCKER_MANIFEST, ...manifest, platform: undefined, config, layers });
  }

  const v1ByDigest = new Map(repo.images.filter((i) => i.layerDigest).map((i) => [i.layerDigest!, i.id]));
  const published = new Map<string, V2Manifest>();
  const unservable = new Map<string, string>();
  for (const [tag, top] of tags) {
    const m = archived.get(tag);
    if (m) published.set(tag, asPublished(m, v1ByDigest));
    else if (built.has(top)) published.set(tag, built.get(top)!);
    else unservable.set(tag, unhosted(top)!.id);
  }
  // Tags Docker v1 cannot carry (signatures, other artifacts, zstd images), unless the push names its tags.
  const narrowed = [...repo.tags.keys()].some((tag) => !tags.has(tag));
  for (const [tag, m] of narrowed ? [] : repo.manifests ?? []) {
    if (tags.has(tag)) continue;
    const masked = imagesOf(m).flatMap((image) => image.layers).find((l) => l.layerDigest && maskedDigests.has(l.layerDigest));
    if (masked) unservable.set(tag, masked.id);
    else published.set(tag, asPublished(m, v1ByDigest));
  }
  // Referrers travel with what they are attached to, when that is published.
  const digests = new Set([...published.values()].flatMap((m) => [m.digest, ...v2ImagesOf(m).map((i) => i.digest)]));
  const referrers = (repo.referrers ?? []).filter((r) => r.subject && digests.has(r.subject)).map((r) => archivedImage(r, v1ByDigest));
  return { tags: published, referrers, unservable, rebuilt };
}

function archivedImage(image: ArchivedImage, v1ByDigest: ReadonlyMap<Digest, string>): V2Image {
  const layers = image.layers.map((source) => ({
    source,
    // The descriptor's own: published as archived.
    facts: { digest: source.layerDigest!, size: source.layer.size, mediaType: source.mediaType!, diffId: source.diffId!, urls: undefined },
    foreign: false,
    v1Id: v1ByDigest.get(source.layerDigest!),
  }));
  return { kind: 'image', mediaType: image.mediaType, digest: image.digest, bytes: image.bytes, platform: image.platform, config: image.config, layers };
}

function asPublished(m: ArchivedManifest, v1ByDigest: ReadonlyMap<Digest, string>): V2Manifest {
  if (m.kind === 'image') return archivedImage(m, v1ByDigest);
  return { kind: 'index', mediaType: m.mediaType, digest: m.digest, bytes: m.bytes, manifests: m.manifests.map((i) => archivedImage(i, v1ByDigest)) };
}
