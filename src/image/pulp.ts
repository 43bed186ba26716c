import { quoteName } from './entry-names.ts';
import { asArray, asObject, asOptionalString, asString, asStringArray, readJsonEntry } from './json.ts';
import type { ImageRepository } from './model.ts';
import type { ReaderContext } from './reader.ts';
import type { TarIndex } from './tar-index.ts';
import { assemble, type ImageDraft } from './v1.ts';

/**
 * Pulp 2 export: `<repo-id>.json` (a Crane v1 redirect file naming the repository, its
 * images and tags) beside `web/<id>/{json,ancestry,layer}`. The v1 JSON is published as
 * exported, byte for byte.
 */

const IMAGE_JSON = /^web\/([^/]+)\/json$/;

export const redirectFiles = (index: TarIndex): string[] => index.paths().filter((p) => !p.includes('/') && p.endsWith('.json'));

export async function readPulp(index: TarIndex, { limits, logger }: ReaderContext): Promise<ImageRepository> {
  const candidates = redirectFiles(index).filter((p) => index.file(p));
  if (candidates.length !== 1) {
    index.fail(`a Pulp export has one <repo-id>.json redirect file at the top; found ${candidates.length ? candidates.map(quoteName).join(', ') : 'none'}`);
  }
  const redirect = await readJsonEntry(index, candidates[0]!, limits);
  const meta = asObject(redirect.value, 'the redirect file', redirect.fail);
  const version = meta['version'];
  if (version !== 1) {
    redirect.fail(`redirect file version ${JSON.stringify(version)}; raas reads Pulp exports of Docker v1 content (version 1)`);
  }
  const archiveName = asOptionalString(meta['repo-registry-id'], '"repo-registry-id"', redirect.fail);

  const drafts: ImageDraft[] = [];
  for (const path of index.paths()) {
    const id = IMAGE_JSON.exec(path)?.[1];
    if (id !== undefined) drafts.push(await readImage(index, id, limits));
  }
  const listed = new Set(
    asArray(meta['images'] ?? [], '"images"', redirect.fail).map((item, i) =>
      asString(asObject(item, `"images"[${i}]`, redirect.fail)['id'], `"images"[${i}].id`, redirect.fail),
    ),
  );
  const present = new Set(drafts.map((d) => d.id));
  for (const id of listed) {
    if (!present.has(id)) redirect.fail(`lists image ${quoteName(id)}, but web/${id}/json is not in the archive`);
  }
  for (const id of present) {
    if (!listed.has(id)) logger.warn(`${index.archive}: web/${id}/ is not listed in ${redirect.path}; publishing it anyway`);
  }
  const tags = new Map<string, string>();
  for (const [tag, id] of Object.entries(asObject(meta['tags'] ?? {}, '"tags"', redirect.fail))) {
    tags.set(tag, asString(id, `tag ${quoteName(tag)}`, redirect.fail));
  }
  return assemble(index, { format: 'pulp', archiveName, images: drafts, tags, tagSource: `entry ${quoteName(redirect.path)}` });
}

async function readImage(index: TarIndex, id: string, limits: ReaderContext['limits']): Promise<ImageDraft> {
  const dir = `web/${id}`;
  const json = await readJsonEntry(index, `${dir}/json`, limits);
  const v1 = asObject(json.value, 'v1 image JSON', json.fail);
  if (v1['id'] !== id) json.fail(`"id" ${quoteName(String(v1['id']))} does not match the directory ${quoteName(dir)}`);
  const parent = asOptionalString(v1['parent'], '"parent"', json.fail);
  const ancestryFile = await readJsonEntry(index, `${dir}/ancestry`, limits);
  const ancestry = asStringArray(ancestryFile.value, 'ancestry', ancestryFile.fail);
  const layer = index.file(`${dir}/layer`) ?? index.fail(`entry ${quoteName(`${dir}/layer`)}: missing layer of image ${id}`);
  return {
    id,
    parent,
    json: json.bytes,
    ancestry,
    layer: index.blob(layer),
    layerDigest: undefined,
    diffId: undefined,
    mediaType: undefined,
    source: json.path,
  };
}
