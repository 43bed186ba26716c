import { InputError } from '../errors.ts';
import { parseRedirect } from '../crane/parse.ts';
import type { ImageRepository, V1Image } from './model.ts';

/**
 * Masking: layers that must not be uploaded because another party (Red Hat's CDN) already
 * serves them, listed by v1 id or by digest. Crane finds masked images through that
 * party's redirect files deployed beside the ISV's.
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
