import { InputError } from '../errors.ts';
import { parseRedirect } from '../crane/parse.ts';
import type { HostedBlob, LayerHost } from './hosted.ts';
import type { Digest, ImageRepository, V1Image } from './model.ts';

/**
 * Masking: layers that must not be uploaded because another party (Red Hat's CDN) already
 * serves them, named by v1 id or by content (layer digest, diff_id). Crane v1 finds masked
 * images through that party's redirect files deployed beside the ISV's; v2 clients follow
 * the foreign-layer URLs of the manifests raas writes.
 */

/** A Crane redirect file's text, optionally with its name for messages. */
export type CraneFile = string | { readonly name: string; readonly text: string };

/**
 * Every image id listed in `images` of Crane v1 redirect files, with the URL its host
 * serves the layer at (`<url><id>/layer`, where Crane v1 redirects), when the file gives a
 * usable url. Files of later versions list no images. A file that cannot be read, or whose
 * images are not all v1 ids, is refused: a mask must name exactly what it hides.
 */
export function maskedLayersFromCraneFiles(files: readonly CraneFile[]): Map<string, string | undefined> {
  const layers = new Map<string, string | undefined>();
  files.forEach((file, i) => {
    const { name, text } = typeof file === 'string' ? { name: `redirect file ${i + 1}`, text: file } : file;
    const fail = (rule: string): never => {
      throw new InputError(rule, { where: name, fix: 'fix or remove the metadata file' });
    };
    const parsed = parseRedirect(text);
    if (parsed.kind !== 'redirect') return fail(parsed.kind === 'not-object' ? 'a redirect file is a JSON object' : parsed.skipped);
    const { redirect } = parsed;
    if (redirect.version !== 1) return;
    const wrong = (key: string) => parsed.problems.filter((p) => p.key === key && p.severity !== 'warning');
    const broken = wrong('images')[0];
    if (broken) fail(`"images"${broken.entry === undefined ? '' : `[${broken.entry}]`}: ${broken.message}`);
    const url = redirect.url !== undefined && wrong('url').length === 0 ? redirect.url : undefined;
    for (const id of redirect.imageIds) {
      if (!layers.get(id)) layers.set(id, url && `${url}${id}/layer`);
    }
  });
  return layers;
}

const hexOf = (value: string): string => value.toLowerCase().replace(/^sha256:/, '');

/** What an image's layer is by content: the digest of its bytes and of its uncompressed tar. */
export interface LayerKeys {
  readonly layerDigest: Digest;
  readonly diffId: Digest;
}

/** Everything that says which layers another party hosts. */
export interface Masks {
  /** v1 ids the base party's Crane v1 files list, with `<url><id>/layer` when the file gives a url. */
  readonly v1: ReadonlyMap<string, string | undefined>;
  /** `[redhat] mask_layers`: v1 ids and digests, with or without "sha256:". */
  readonly listed: readonly string[];
  /** The blobs the base party's v2 metadata describes. */
  readonly hosted: readonly HostedBlob[];
}

/**
 * Split a repository's images into those to upload and those masked, with where each
 * masked layer is hosted. A mask matches an image's v1 id, its layer digest or its diff_id
 * (all sha256 values, so they cannot match by accident): v1 ids differ between export
 * formats of one image, its content does not. A layer whose archive declares no digest
 * (Pulp exports) is hashed by `keysOf` when a content mask could name it.
 *
 * The host of a masked layer is the base party's blob of the same bytes, else its blob of
 * the same diff_id (compressed otherwise), else the v1 file's URL; none is known when only
 * the mask list names the layer.
 */
export async function partitionMasked(repo: ImageRepository, masks: Masks, keysOf: (image: V1Image) => Promise<LayerKeys>): Promise<{ upload: V1Image[]; masked: Map<string, LayerHost> }> {
  const byDigest = new Map(masks.hosted.map((b) => [hexOf(b.digest), b]));
  const byDiffId = new Map<string, HostedBlob>();
  for (const blob of masks.hosted) if (!byDiffId.has(hexOf(blob.diffId))) byDiffId.set(hexOf(blob.diffId), blob);
  const wanted = new Set([...masks.v1.keys(), ...masks.listed].map(hexOf));
  const declared = (image: V1Image) => [image.id, image.layerDigest, image.diffId].filter((k): k is string => k !== undefined).map(hexOf);
  const unmatched = masks.listed.some((mask) => !repo.images.some((image) => declared(image).includes(hexOf(mask))));
  const needContent = masks.hosted.length > 0 || unmatched;

  const upload: V1Image[] = [];
  const masked = new Map<string, LayerHost>();
  for (const image of repo.images) {
    const content = needContent && (image.layerDigest === undefined || image.diffId === undefined) ? await keysOf(image) : undefined;
    const layerDigest = image.layerDigest ?? content?.layerDigest;
    const diffId = image.diffId ?? content?.diffId;
    const keys = [image.id, layerDigest, diffId].filter((k): k is string => k !== undefined).map(hexOf);
    if (!keys.some((k) => wanted.has(k) || byDigest.has(k) || byDiffId.has(k))) {
      upload.push(image);
      continue;
    }
    const same = layerDigest === undefined ? undefined : byDigest.get(hexOf(layerDigest));
    if (same && diffId !== undefined && hexOf(same.diffId) !== hexOf(diffId)) {
      throw new InputError(`layer ${layerDigest} of image ${image.id} has diff_id ${diffId} in the archive, but ${same.diffId} in the base party's metadata (${same.url})`, {
        where: image.layer.where, fix: 'one of them is wrong: export the image again, or correct the base-image metadata',
      });
    }
    masked.set(image.id, same ?? (diffId === undefined ? undefined : byDiffId.get(hexOf(diffId))) ?? masks.v1.get(image.id));
  }
  return { upload, masked };
}
