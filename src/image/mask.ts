import { InputError } from '../errors.ts';
import { parseJson, isObject } from './json.ts';
import { isHex64, type ImageRepository, type V1Image } from './model.ts';

/**
 * Masking: layers that must not be uploaded because another party (Red Hat's CDN) already
 * serves them, listed by v1 id or by digest. Crane finds masked images through that
 * party's redirect files deployed beside the ISV's.
 */

const MAX_DEPTH = 64;

/** A Crane redirect file's text, optionally with its name for messages. */
export type CraneFile = string | { readonly name: string; readonly text: string };

/**
 * Every image id listed in `images` of Crane v1 redirect files, with the URL its host
 * serves the layer at (`<url><id>/layer`, where Crane v1 redirects), when the file gives a
 * url. Files of later versions list no images.
 */
export function maskedLayersFromCraneFiles(files: readonly CraneFile[]): Map<string, string | undefined> {
  const layers = new Map<string, string | undefined>();
  files.forEach((file, i) => {
    const { name, text } = typeof file === 'string' ? { name: `redirect file ${i + 1}`, text: file } : file;
    const fail: (rule: string) => never = (rule) => {
      throw new InputError(rule, { where: name, fix: 'fix or remove the metadata file' });
    };
    const json = parseJson(Buffer.from(text), MAX_DEPTH, fail);
    if (!isObject(json)) fail('a redirect file is a JSON object');
    const images = json['images'];
    if (images === undefined) return;
    if (!Array.isArray(images)) fail('"images" is not an array');
    const url = typeof json['url'] === 'string' && /^https?:\/\/.+\/$/.test(json['url']) ? json['url'] : undefined;
    images.forEach((image, j) => {
      const id = isObject(image) ? image['id'] : undefined;
      if (typeof id !== 'string' || !isHex64(id)) fail(`"images"[${j}] has no valid "id" (64 lowercase hex)`);
      if (!layers.get(id)) layers.set(id, url && `${url}${id}/layer`);
    });
  });
  return layers;
}

const hexOf = (value: string): string => value.toLowerCase().replace(/^sha256:/, '');

/**
 * Split a repository's images into those to upload and those masked. A mask matches an
 * image's v1 id or the hex of its layer digest or diff_id, with or without "sha256:":
 * all are sha256 values, so they cannot match by accident.
 */
export function partitionMasked(repo: ImageRepository, masks: Iterable<string>): { upload: V1Image[]; masked: V1Image[] } {
  const wanted = new Set([...masks].map(hexOf));
  const upload: V1Image[] = [];
  const masked: V1Image[] = [];
  for (const image of repo.images) {
    const keys = [image.id, image.layerDigest, image.diffId].filter((k): k is string => k !== undefined).map(hexOf);
    (keys.some((k) => wanted.has(k)) ? masked : upload).push(image);
  }
  return { upload, masked };
}
