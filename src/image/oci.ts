import { digestHex } from './digest.ts';
import { quoteName } from './entry-names.ts';
import { asArray, asDigest, asObject, asSize, asString, countDescriptors, isObject, readJsonEntry, verifySha256, type Fail, type JsonFile } from './json.ts';
import type { ArchiveLimits } from './limits.ts';
import type { Digest, ImageRepository } from './model.ts';
import type { ReaderContext } from './reader.ts';
import { splitReference, TagSet } from './refs.ts';
import type { TarIndex } from './tar-index.ts';
import { assemble, type ImageDraft } from './v1.ts';
import { deriveV1Images } from './v1id.ts';

/**
 * OCI image layout archives (`oci-archive:`, and what `skopeo copy ... oci:` leaves in a
 * directory once tarred): `oci-layout`, `index.json`, `blobs/sha256/<hex>`. Every
 * manifest and config is checked against its digest and size; layers only by size (their
 * digests are checked while they are hashed for upload).
 */

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
const REF_NAME = 'org.opencontainers.image.ref.name';
// containerd and docker 25+ put the full reference here and only the tag in REF_NAME.
const IMAGE_NAME = 'io.containerd.image.name';
const MAX_INDEX_DEPTH = 4;

interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations: Readonly<Record<string, unknown>>;
  readonly platform: Readonly<Record<string, unknown>> | undefined;
}

function descriptor(value: unknown, what: string, fail: Fail): Descriptor {
  const d = asObject(value, what, fail);
  return {
    mediaType: asString(d['mediaType'], `${what} mediaType`, fail),
    digest: asDigest(d['digest'], `${what} digest`, fail),
    size: asSize(d['size'], `${what} size`, fail),
    annotations: d['annotations'] === undefined ? {} : asObject(d['annotations'], `${what} annotations`, fail),
    platform: isObject(d['platform']) ? d['platform'] : undefined,
  };
}

const blobPath = (digest: Digest): string => `blobs/sha256/${digestHex(digest)}`;

/** A metadata blob, checked against the size and digest its descriptor declares. */
async function readBlob(index: TarIndex, d: Descriptor, what: string, limits: ArchiveLimits): Promise<JsonFile> {
  const path = blobPath(d.digest);
  const entry = index.file(path) ?? index.fail(`${what} ${d.digest} is not in the archive (no entry ${quoteName(path)})`);
  if (entry.size !== d.size) index.fail(`entry ${quoteName(path)}: ${entry.size} bytes, but its descriptor declares ${d.size}`);
  const file = await readJsonEntry(index, path, limits);
  verifySha256(file, digestHex(d.digest));
  return file;
}

export async function readOci(index: TarIndex, { limits }: ReaderContext): Promise<ImageRepository> {
  const layout = await readJsonEntry(index, 'oci-layout', limits);
  const version = asObject(layout.value, 'oci-layout', layout.fail)['imageLayoutVersion'];
  if (typeof version !== 'string' || !version.startsWith('1.')) layout.fail(`unsupported imageLayoutVersion ${JSON.stringify(version)}`);

  const top = await readJsonEntry(index, 'index.json', limits);
  const manifests = asArray(asObject(top.value, 'index.json', top.fail)['manifests'], '"manifests"', top.fail);
  countDescriptors(index, manifests.length, limits, 'entry "index.json"');
  const drafts: ImageDraft[] = [];
  const tags = new TagSet();
  // One image per digest, however many descriptors (tags) name it.
  const byDigest = new Map<Digest, ImageDraft[]>();
  const reader: ImageReader = { index, limits, derived: new Map() };
  for (const [i, value] of manifests.entries()) {
    const d = descriptor(value, `manifests[${i}]`, top.fail);
    let images = byDigest.get(d.digest);
    if (!images) {
      images = await readImage(reader, await imageManifest(index, d, limits, 0));
      byDigest.set(d.digest, images);
      drafts.push(...images);
    }
    const reference = referenceOf(d, (rule) => top.fail(`manifests[${i}] ${rule}`));
    if (reference) tags.add(reference[0], reference[1], images.at(-1)!.id, top.fail);
  }
  const archiveName = tags.archiveName(top.fail);
  return assemble(index, { format: 'oci-archive', archiveName, images: drafts, tags: tags.tags, tagSource: 'entry "index.json"' });
}

/** [name, tag] from a top-level descriptor's annotations; REF_NAME is usually a bare tag, sometimes a full reference. */
function referenceOf(d: Descriptor, fail: Fail): [string | undefined, string] | undefined {
  const ref = d.annotations[REF_NAME];
  if (typeof ref !== 'string' || ref === '') return undefined;
  const fullName = d.annotations[IMAGE_NAME];
  if (typeof fullName === 'string') return [splitReference(fullName)?.[0] ?? fullName, ref];
  if (!/[:/]/.test(ref)) return [undefined, ref];
  return splitReference(ref) ?? fail(`reference ${quoteName(ref)} is not name:tag`);
}

/** The image manifest a descriptor leads to, choosing linux/amd64 in (nested) indexes. */
async function imageManifest(index: TarIndex, d: Descriptor, limits: ArchiveLimits, depth: number): Promise<JsonFile> {
  if (MANIFEST_TYPES.has(d.mediaType)) return readBlob(index, d, 'manifest', limits);
  if (!INDEX_TYPES.has(d.mediaType)) index.fail(`descriptor ${d.digest}: unsupported media type ${quoteName(d.mediaType)}`);
  if (depth >= MAX_INDEX_DEPTH) index.fail(`descriptor ${d.digest}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`);
  const file = await readBlob(index, d, 'image index', limits);
  const listed = asArray(asObject(file.value, 'image index', file.fail)['manifests'], '"manifests"', file.fail);
  countDescriptors(index, listed.length, limits, `entry ${quoteName(file.path)}`);
  const children = listed.map((v, i) => descriptor(v, `manifests[${i}]`, file.fail));
  const platformOf = (c: Descriptor) => [c.platform?.['os'], c.platform?.['architecture'], c.platform?.['variant']].filter(Boolean).join('/');
  const amd64 = children.filter((c) => c.platform?.['os'] === 'linux' && c.platform['architecture'] === 'amd64');
  if (amd64.length !== 1) {
    const found = children.map(platformOf).map((p) => p || 'no platform');
    file.fail(
      `${amd64.length ? 'several' : 'no'} linux/amd64 image${amd64.length ? 's' : ''} in this index (found: ${found.join(', ') || 'nothing'}); raas publishes a single linux/amd64 image per tag`,
    );
  }
  return imageManifest(index, amd64[0]!, limits, depth + 1);
}

/** What reading images shares across manifests: v1 ids derived once per config. */
interface ImageReader {
  readonly index: TarIndex;
  readonly limits: ArchiveLimits;
  readonly derived: Map<Digest, ReturnType<typeof deriveV1Images>>;
}

async function readImage({ index, limits, derived: derivedByConfig }: ImageReader, manifestFile: JsonFile): Promise<ImageDraft[]> {
  const { fail } = manifestFile;
  const manifest = asObject(manifestFile.value, 'image manifest', fail);
  const configDescriptor = descriptor(manifest['config'], 'config', fail);
  const listed = asArray(manifest['layers'], '"layers"', fail);
  countDescriptors(index, listed.length + 1, limits, `entry ${quoteName(manifestFile.path)}`);
  const layers = listed.map((v, i) => descriptor(v, `layers[${i}]`, fail));
  if (layers.length === 0) fail('the image has no layers');

  const configFile = await readBlob(index, configDescriptor, 'config', limits);
  const config = asObject(configFile.value, 'image config', configFile.fail);
  const rootfs = asObject(config['rootfs'], '"rootfs"', configFile.fail);
  const diffIds = asArray(rootfs['diff_ids'], '"rootfs.diff_ids"', configFile.fail).map((d, j) => asDigest(d, `"rootfs.diff_ids"[${j}]`, configFile.fail));
  if (diffIds.length !== layers.length) configFile.fail(`lists ${diffIds.length} diff_ids but its manifest has ${layers.length} layers`);

  const entries = layers.map((d, j) => {
    const path = blobPath(d.digest);
    const entry = index.file(path) ?? fail(`layers[${j}] ${d.digest} is not in the archive (no entry ${quoteName(path)})`);
    if (entry.size !== d.size) index.fail(`entry ${quoteName(path)}: layer of ${entry.size} bytes, but its descriptor declares ${d.size}`);
    return entry;
  });
  // The ids follow from the config alone (its diff_ids included), so manifests sharing a config share them.
  let derived = derivedByConfig.get(configDescriptor.digest);
  if (!derived) {
    try {
      derived = deriveV1Images(config, diffIds);
    } catch (err) {
      return configFile.fail(`cannot derive v1 ids: ${(err as Error).message}`);
    }
    derivedByConfig.set(configDescriptor.digest, derived);
  }
  return derived.map((v1, j) => ({
    ...v1,
    layer: index.blob(entries[j]!),
    layerDigest: layers[j]!.digest,
    diffId: diffIds[j],
    mediaType: layers[j]!.mediaType,
    ...(j === derived.length - 1 ? { config: { bytes: configFile.bytes, digest: configDescriptor.digest } } : {}),
    source: configFile.path,
  }));
}
