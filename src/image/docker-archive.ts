import { InputError } from '../errors.ts';
import { sha256Hex, toDigest } from './digest.ts';
import { readOci } from './oci.ts';
import { quoteName } from './entry-names.ts';
import {
  asArray,
  asDigest,
  asObject,
  asOptionalString,
  asString,
  asStringArray,
  countDescriptors,
  isObject,
  namedDigestHex,
  readJsonEntry,
  verifySha256,
  type JsonFile,
} from './json.ts';
import type { Digest, ImageRepository } from './model.ts';
import type { ReaderContext } from './reader.ts';
import type { TarEntry, TarIndex } from './tar-index.ts';
import { splitReference, TagSet } from './refs.ts';
import { assemble, type ImageDraft } from './v1.ts';
import { deriveV1Images } from './v1id.ts';

/**
 * `docker save` archives, in every generation:
 * - before docker 1.10: `repositories` and `<id>/{json,layer.tar,VERSION}` only;
 * - docker 1.10-24 and skopeo: the same plus `manifest.json` (skopeo's `<id>/layer.tar`
 *   are symlinks to `<diff-id>.tar`, and its manifest names those files directly);
 * - docker 25+: `manifest.json` over an OCI layout, no v1 ids at all, so they are derived.
 * manifest.json is preferred whenever it exists; legacy `<id>/json` keep their ids.
 */

const LEGACY_JSON = /^([^/]+)\/json$/;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

interface LegacyImage {
  readonly id: string;
  readonly parent: string | undefined;
  readonly json: JsonFile;
  readonly layer: TarEntry | undefined;
}

export async function readDockerArchive(index: TarIndex, context: ReaderContext): Promise<ImageRepository> {
  const whole = index.file('index.json') && index.file('oci-layout') ? await asOciLayout(index, context) : undefined;
  return whole ?? readManifestJson(index, context);
}

/**
 * Docker 25+ writes an OCI layout beside manifest.json: read as one, the archive gives its
 * manifests and indexes as they are (every platform of a multi-platform image). A save of
 * some platforms only lists content it does not hold; then manifest.json's image (the
 * daemon's platform) is published, as by earlier versions, and the user is told why.
 */
async function asOciLayout(index: TarIndex, context: ReaderContext): Promise<ImageRepository | undefined> {
  try {
    return { ...(await readOci(index, context)), format: 'docker-archive' };
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    context.logger.warn(`${index.archive}: its OCI layout (index.json) cannot be published whole (${error.message}); publishing the image manifest.json describes`);
    return undefined;
  }
}

async function readManifestJson(index: TarIndex, { limits, logger }: ReaderContext): Promise<ImageRepository> {
  const legacy = new Map<string, LegacyImage>();
  for (const path of index.paths()) {
    const dir = LEGACY_JSON.exec(path)?.[1];
    if (dir === undefined || !index.file(path)) continue;
    const json = await readJsonEntry(index, path, limits);
    const v1 = asObject(json.value, 'v1 image JSON', json.fail);
    if (v1['id'] !== dir) json.fail(`"id" ${quoteName(String(v1['id']))} does not match the directory ${quoteName(dir)}`);
    const parent = asOptionalString(v1['parent'], '"parent"', json.fail);
    legacy.set(dir, { id: dir, parent, json, layer: index.file(`${dir}/layer.tar`) });
  }

  const drafts: ImageDraft[] = [];
  const tags = new TagSet();
  let tagSource: string;
  if (index.file('manifest.json')) {
    const manifest = await readJsonEntry(index, 'manifest.json', limits);
    tagSource = 'entry "manifest.json"';
    const items = asArray(manifest.value, 'manifest.json', manifest.fail);
    countDescriptors(index, items.length, limits, 'entry "manifest.json"');
    // Items naming the same config and layers are one image, however many there are (one per tag, or an attack).
    const seen = new Map<string, ImageDraft[]>();
    for (const [i, value] of items.entries()) {
      const item = asObject(value, `item ${i}`, manifest.fail);
      const key = JSON.stringify([item['Config'], item['Layers']]);
      let images = seen.get(key);
      if (!images) {
        images = await readManifestItem(index, manifest, i, item, legacy, limits);
        seen.set(key, images);
        drafts.push(...images);
      }
      const top = images.at(-1)!.id;
      const repoTags = item['RepoTags'];
      for (const ref of repoTags === null || repoTags === undefined ? [] : asStringArray(repoTags, `item ${i} RepoTags`, manifest.fail)) {
        const [name, tag] = splitReference(ref) ?? manifest.fail(`item ${i} RepoTags entry ${quoteName(ref)} is not name:tag`);
        tags.add(name, tag, top, manifest.fail);
      }
    }
  } else {
    const repositories = index.file('repositories') ? await readJsonEntry(index, 'repositories', limits) : undefined;
    tagSource = 'entry "repositories"';
    for (const image of legacy.values()) {
      const layer = image.layer ?? index.fail(`entry ${quoteName(`${image.id}/layer.tar`)}: missing layer of image ${image.id}`);
      drafts.push(legacyDraft(index, image, layer, undefined, undefined));
    }
    if (repositories) {
      for (const [name, byTag] of Object.entries(asObject(repositories.value, 'repositories', repositories.fail))) {
        for (const [tag, id] of Object.entries(asObject(byTag, quoteName(name), repositories.fail))) {
          tags.add(name, tag, asString(id, `${quoteName(name)} tag ${quoteName(tag)}`, repositories.fail), repositories.fail);
        }
      }
    }
  }
  const used = new Set(drafts.map((d) => d.id));
  for (const id of legacy.keys()) {
    if (!used.has(id)) logger.warn(`${index.archive}: ignoring ${id}/, which no image in manifest.json uses`);
  }
  const archiveName = tags.archiveName((rule) => index.fail(`${tagSource}: ${rule}`));
  return assemble(index, { format: 'docker-archive', archiveName, images: drafts, tags: tags.tags, tagSource });
}

async function readManifestItem(
  index: TarIndex,
  manifest: JsonFile,
  i: number,
  item: Record<string, unknown>,
  legacy: ReadonlyMap<string, LegacyImage>,
  limits: ReaderContext['limits'],
): Promise<ImageDraft[]> {
  const configPath = asString(item['Config'], `item ${i} Config`, manifest.fail);
  const layerPaths = asStringArray(item['Layers'], `item ${i} Layers`, manifest.fail);
  countDescriptors(index, layerPaths.length + 1, limits, `entry "manifest.json" item ${i}`);
  if (layerPaths.length === 0) manifest.fail(`item ${i} has no layers`);
  const config = await readJsonEntry(index, configPath, limits);
  const hex = namedDigestHex(configPath);
  if (hex) verifySha256(config, hex);
  const configObject = asObject(config.value, 'image config', config.fail);
  const rootfs = asObject(configObject['rootfs'], '"rootfs"', config.fail);
  const diffIds = asArray(rootfs['diff_ids'], '"rootfs.diff_ids"', config.fail).map((d, j) => asDigest(d, `"rootfs.diff_ids"[${j}]`, config.fail));
  if (diffIds.length !== layerPaths.length) {
    config.fail(`lists ${diffIds.length} diff_ids but manifest.json item ${i} has ${layerPaths.length} layers`);
  }
  const layers = layerPaths.map(
    (p) => index.file(p) ?? manifest.fail(`item ${i} lists layer ${quoteName(p)}, which is not in the archive`),
  );
  const digests = await Promise.all(layers.map((layer, j) => declaredDigest(index, layer, diffIds[j]!)));

  if (legacy.size > 0) {
    const chains = legacyChains(legacy, layers, configObject);
    if (chains.length !== 1) {
      manifest.fail(`item ${i}: ${chains.length ? 'several chains' : 'no chain'} of <id>/json images in the archive ${chains.length ? 'have' : 'has'} its ${layers.length} layers`);
    }
    return withConfig(chains[0]!.map((image, j) => legacyDraft(index, image, layers[j]!, digests[j], diffIds[j])), config);
  }
  let derived;
  try {
    derived = deriveV1Images(configObject, diffIds);
  } catch (err) {
    return config.fail(`cannot derive v1 ids: ${(err as Error).message}`);
  }
  const drafts = derived.map((v1, j) => ({
    ...v1,
    layer: index.blob(layers[j]!),
    layerDigest: digests[j],
    diffId: diffIds[j],
    mediaType: undefined,
    source: configPath,
  }));
  return withConfig(drafts, config);
}

/** The config belongs to the top image of the chain; its digest is of the bytes, checked above when the name declares one. */
function withConfig(drafts: ImageDraft[], config: JsonFile): ImageDraft[] {
  const top = drafts.at(-1)!;
  return [...drafts.slice(0, -1), { ...top, config: { bytes: config.bytes, digest: toDigest(sha256Hex(config.bytes)) } }];
}

/**
 * The `<id>/json` chains whose layers are exactly `layers`, base first. Matching by layer
 * entry (after links) rather than by path covers both docker (`<id>/layer.tar`) and
 * skopeo (`<diff-id>.tar`, linked from `<id>/layer.tar`). Images that differ only in
 * their config share every layer; then the top v1 JSON that carries this config decides.
 */
function legacyChains(legacy: ReadonlyMap<string, LegacyImage>, layers: readonly TarEntry[], config: Record<string, unknown>): LegacyImage[][] {
  const matches: LegacyImage[][] = [];
  for (const top of legacy.values()) {
    if (top.layer !== layers.at(-1)) continue;
    const chain = [top];
    while (chain.length < layers.length) {
      const parentId = chain[0]!.parent;
      const parent = parentId === undefined ? undefined : legacy.get(parentId);
      if (!parent) break;
      chain.unshift(parent);
    }
    if (chain.length === layers.length && chain[0]!.parent === undefined && chain.every((image, j) => image.layer === layers[j])) {
      matches.push(chain);
    }
  }
  return matches.length > 1 ? matches.filter((chain) => carriesConfig(chain.at(-1)!, config)) : matches;
}

/**
 * Docker and skopeo copy `created` and `config` of the image config into the top v1 JSON
 * (docker re-encodes it with Go's zero values, hence "every field the config sets").
 */
function carriesConfig(top: LegacyImage, config: Record<string, unknown>): boolean {
  const v1 = top.json.value as Record<string, unknown>;
  const created = (value: unknown) => (typeof value === 'string' ? Date.parse(value) : value);
  if (created(v1['created']) !== created(config['created'])) return false;
  const run = isObject(config['config']) ? config['config'] : {};
  const v1Run = isObject(v1['config']) ? v1['config'] : {};
  return Object.entries(run).every(([key, value]) => canonical(v1Run[key]) === canonical(value));
}

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    isObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  ) ?? 'null';

function legacyDraft(index: TarIndex, image: LegacyImage, layer: TarEntry, layerDigest: Digest | undefined, diffId: Digest | undefined): ImageDraft {
  return {
    id: image.id,
    parent: image.parent,
    json: image.json.bytes,
    layer: index.blob(layer),
    layerDigest,
    diffId,
    mediaType: undefined,
    source: image.json.path,
  };
}

/** A blob named by its digest declares it; an uncompressed layer's digest is its diff_id. */
async function declaredDigest(index: TarIndex, layer: TarEntry, diffId: Digest): Promise<Digest | undefined> {
  const named = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(layer.path)?.[1];
  if (named) return toDigest(named);
  return (await index.read(layer, 2)).equals(GZIP_MAGIC) ? undefined : diffId;
}
