import { quoteName } from './entry-names.ts';
import { isHex64, type ArchiveFormat, type Blob, type Digest, type ImageConfig, type ImageRepository, type V1Image } from './model.ts';
import type { TarIndex } from './tar-index.ts';

/**
 * The checks every reader's result must pass before anything is uploaded: ids are v1 ids,
 * parent links form chains that end inside the archive, declared ancestries agree with
 * them, and every tag names an image that is there.
 */

export interface ImageDraft {
  readonly id: string;
  readonly parent: string | undefined;
  readonly json: Buffer;
  /** The ancestry the archive declares (Pulp); derived from `parent` links otherwise. */
  readonly ancestry?: readonly string[];
  readonly layer: Blob;
  readonly layerDigest: Digest | undefined;
  readonly diffId: Digest | undefined;
  readonly mediaType: string | undefined;
  /** Set on the top image of each manifest that comes with an image config. */
  readonly config?: ImageConfig;
  /** The archive entry that defines the image, for messages. */
  readonly source: string;
}

export interface RepositoryDraft {
  readonly format: ArchiveFormat;
  readonly archiveName: string | undefined;
  readonly images: readonly ImageDraft[];
  readonly tags: ReadonlyMap<string, string>;
  /** Where the tags come from, for messages. */
  readonly tagSource: string;
  /** The archive has manifests Docker v1 cannot carry (zstd, other platforms, artifacts): no v1 image is fine. */
  readonly v1Optional?: boolean;
}

// Docker's tag grammar; tags become object keys and file names downstream.
const TAG = /^[\w][\w.-]{0,127}$/;

/** Docker's tag grammar, for tags that have no v1 image (they become object keys all the same). */
export function checkTag(tag: string, fail: (rule: string) => never): void {
  if (!TAG.test(tag)) fail(`tag ${quoteName(tag)} is not a valid Docker tag`);
}
// Docker reference names (optionally with a registry host and port), lower-case path components.
const NAME = /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

const short = (id: string): string => (isHex64(id) ? id.slice(0, 12) : JSON.stringify(id));

/** Docker refused v1 chains deeper than 127; a much deeper one is an attack on memory (ancestries are n x depth). */
const MAX_CHAIN = 256;

/**
 * This id first, base last, following parent links. Walks up only until an image whose
 * ancestry is already known, so a repository costs O(images x depth), loops included.
 */
function ancestry(
  image: ImageDraft,
  byId: ReadonlyMap<string, ImageDraft>,
  known: Map<string, readonly string[]>,
  fail: (source: string, rule: string) => never,
): readonly string[] {
  const walked: ImageDraft[] = [];
  const seen = new Set<string>();
  let below: readonly string[] = [];
  for (let current: ImageDraft | undefined = image; current; ) {
    const cached = known.get(current.id);
    if (cached) {
      below = cached;
      break;
    }
    if (seen.has(current.id)) fail(image.source, `parent links loop (${[...walked, current].map((i) => short(i.id)).join(' -> ')})`);
    seen.add(current.id);
    walked.push(current);
    if (walked.length > MAX_CHAIN) fail(image.source, `parent chain deeper than ${MAX_CHAIN} images`);
    const parentId: string | undefined = current.parent;
    if (parentId === undefined) break;
    const parent = byId.get(parentId);
    if (!parent) fail(current.source, `parent image ${short(parentId)} of ${short(current.id)} is not in the archive`);
    current = parent;
  }
  if (walked.length + below.length > MAX_CHAIN) fail(image.source, `parent chain deeper than ${MAX_CHAIN} images`);
  for (let i = walked.length - 1; i >= 0; i--) {
    below = [walked[i]!.id, ...below];
    known.set(walked[i]!.id, below);
  }
  return below;
}

export function assemble(index: TarIndex, draft: RepositoryDraft): ImageRepository {
  const fail = (source: string, rule: string): never => index.fail(`entry ${quoteName(source)}: ${rule}`);
  if (draft.archiveName !== undefined && !(draft.archiveName.length <= 255 && NAME.test(draft.archiveName))) {
    index.fail(`${draft.tagSource}: repository name ${quoteName(draft.archiveName)} is not a valid image name`);
  }

  if (draft.images.length === 0 && !draft.v1Optional) index.fail('the archive holds no images');
  const byId = new Map<string, ImageDraft>();
  for (const image of draft.images) {
    if (!isHex64(image.id)) fail(image.source, `image id ${quoteName(image.id)} is not 64 lowercase hex characters`);
    if (image.parent !== undefined && !isHex64(image.parent)) {
      fail(image.source, `parent id ${quoteName(image.parent)} is not 64 lowercase hex characters`);
    }
    const seen = byId.get(image.id);
    if (seen && !(seen.json.equals(image.json) && seen.layer.where === image.layer.where)) {
      fail(image.source, `image id ${short(image.id)} is defined twice with different content (also in ${quoteName(seen.source)})`);
    }
    // The top of one image may be a lower layer of another; keep the config it carries.
    byId.set(image.id, seen?.config && !image.config ? seen : image);
  }

  const ancestries = new Map<string, readonly string[]>();
  for (const image of byId.values()) {
    const chain = ancestry(image, byId, ancestries, fail);
    if (image.ancestry && image.ancestry.join() !== chain.join()) {
      fail(
        image.source,
        `ancestry [${image.ancestry.map(short).join(', ')}] disagrees with the parent links [${chain.map(short).join(', ')}]`,
      );
    }
  }

  for (const [tag, id] of draft.tags) {
    if (!TAG.test(tag)) index.fail(`${draft.tagSource}: tag ${quoteName(tag)} is not a valid Docker tag`);
    if (!byId.has(id)) index.fail(`${draft.tagSource}: tag ${quoteName(tag)} points to image ${short(id)}, which is not in the archive`);
  }

  const images: V1Image[] = [...byId.values()]
    .map((image) => ({
      id: image.id,
      parent: image.parent,
      json: image.json,
      ancestry: ancestries.get(image.id)!,
      layer: image.layer,
      layerDigest: image.layerDigest,
      diffId: image.diffId,
      mediaType: image.mediaType,
      ...(image.config ? { config: image.config } : {}),
    }))
    .sort((a, b) => a.ancestry.length - b.ancestry.length);
  return { format: draft.format, archiveName: draft.archiveName, images, tags: new Map(draft.tags) };
}
