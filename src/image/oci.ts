import { digestHex, sha256Hex, toDigest } from './digest.ts';
import { quoteName } from './entry-names.ts';
import { asArray, asDigest, asObject, asSize, asString, countDescriptors, isObject, readJsonEntry, verifySha256, type Fail, type JsonFile } from './json.ts';
import type { ArchiveLimits } from './limits.ts';
import type { ArchivedImage, ArchivedIndex, ArchivedManifest, Digest, ImageRepository } from './model.ts';
import { OCI_MANIFEST } from './media-types.ts';
import type { ReaderContext } from './reader.ts';
import { splitReference, TagSet } from './refs.ts';
import type { TarIndex } from './tar-index.ts';
import { assemble, checkTag, type ImageDraft } from './v1.ts';
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

export async function readOci(index: TarIndex, { limits, logger }: ReaderContext): Promise<ImageRepository> {
  const layout = await readJsonEntry(index, 'oci-layout', limits);
  const version = asObject(layout.value, 'oci-layout', layout.fail)['imageLayoutVersion'];
  if (typeof version !== 'string' || !version.startsWith('1.')) layout.fail(`unsupported imageLayoutVersion ${JSON.stringify(version)}`);

  const top = await readJsonEntry(index, 'index.json', limits);
  const manifests = asArray(asObject(top.value, 'index.json', top.fail)['manifests'], '"manifests"', top.fail);
  countDescriptors(index, manifests.length, limits, 'entry "index.json"');
  const drafts: ImageDraft[] = [];
  // The v1 view's tags (images with a linux/amd64 image), and every tag's archived manifest.
  const tags = new TagSet();
  const archivedTags = new TagSet();
  const archived = new Map<Digest, ArchivedManifest>();
  const referrers = new Map<Digest, ArchivedImage>();
  // One image per digest, however many descriptors (tags) name it.
  const byDigest = new Map<Digest, ReadTop>();
  const reader: ImageReader = { index, limits, derived: new Map() };
  for (const [i, value] of manifests.entries()) {
    const d = descriptor(value, `manifests[${i}]`, top.fail);
    let read = byDigest.get(d.digest);
    if (!read) {
      read = await readTop(reader, d);
      byDigest.set(d.digest, read);
      drafts.push(...(read.v1 ?? []));
      if (read.archived) archived.set(d.digest, read.archived);
    }
    const reference = referenceOf(d, (rule) => top.fail(`manifests[${i}] ${rule}`));
    if (reference) {
      archivedTags.add(reference[0], reference[1], d.digest, top.fail);
      if (read.v1) tags.add(reference[0], reference[1], read.v1.at(-1)!.id, top.fail);
      else if (read.noV1) logger.warn(`${index.archive}: tag ${reference[1]} ${read.noV1}: it is published for Docker v2 and OCI clients only, not for Docker v1 (crane-v1)`);
    } else if (read.archived?.kind === 'image' && read.archived.subject) {
      referrers.set(d.digest, read.archived);
    }
  }
  const archiveName = archivedTags.archiveName(top.fail);
  for (const tag of archivedTags.tags.keys()) checkTag(tag, (rule) => top.fail(rule));
  // Without a v1 view the archive is published to the v2 layouts only; an index without linux/amd64 says so.
  if (drafts.length === 0) {
    const without = [...byDigest.values()].find((r) => r.noAmd64);
    if (archived.size === 0 && without?.noAmd64) index.fail(without.noAmd64);
    if (without?.noAmd64) logger.warn(`${index.archive}: ${without.noAmd64}`);
  }
  const repository = assemble(index, { format: 'oci-archive', archiveName, images: drafts, tags: tags.tags, tagSource: 'entry "index.json"', v1Optional: archived.size > 0 });
  const byTag = new Map([...archivedTags.tags].flatMap(([tag, digest]) => {
    const m = archived.get(digest as Digest);
    return m ? [[tag, m] as const] : [];
  }));
  return { ...repository, manifests: byTag, referrers: [...referrers.values()] };
}

/** What one descriptor of index.json leads to: the archived manifest or index (when raas can publish it whole), and the v1 view of its linux/amd64 image. */
interface ReadTop {
  readonly archived: ArchivedManifest | undefined;
  readonly v1: ImageDraft[] | undefined;
  /** Why an index has no v1 view, for the message when nothing in the archive has one. */
  readonly noAmd64?: string;
  /** Why an image has no v1 view (undefined for artifacts, which are not images). */
  readonly noV1?: string;
}

async function readTop(reader: ImageReader, d: Descriptor): Promise<ReadTop> {
  const { index, limits } = reader;
  if (MANIFEST_TYPES.has(d.mediaType)) {
    const image = await readManifest(reader, await readBlob(index, d, 'manifest', limits), d);
    return { archived: image.archived, v1: image.v1, noV1: image.noV1 };
  }
  if (!INDEX_TYPES.has(d.mediaType)) index.fail(`descriptor ${d.digest}: unsupported media type ${quoteName(d.mediaType)}`);
  const file = await readBlob(index, d, 'image index', limits);
  const children = indexChildren(index, file, limits);
  if (children.some((c) => INDEX_TYPES.has(c.mediaType))) {
    // Indexes of indexes are not published whole; the v1 and v2 views take the linux/amd64 image, as before.
    return { archived: undefined, v1: (await readManifest(reader, await imageManifest(index, d, limits, 0), undefined)).v1 };
  }
  // One after the other: the first broken manifest is the one the error names.
  const read: Awaited<ReturnType<typeof readManifest>>[] = [];
  for (const c of children) {
    if (!MANIFEST_TYPES.has(c.mediaType)) index.fail(`descriptor ${c.digest}: unsupported media type ${quoteName(c.mediaType)}`);
    read.push(await readManifest(reader, await readBlob(index, c, 'manifest', limits), c));
  }
  const amd64 = read.filter((r, j) => isAmd64(children[j]!) && r.v1);
  if (amd64.length > 1) file.fail('several linux/amd64 images in this index; raas publishes one linux/amd64 image per tag to Docker v1');
  const mediaType = declaredType(asObject(file.value, 'image index', file.fail), d.mediaType, INDEX_TYPES, file.fail);
  const archived: ArchivedIndex = { kind: 'index', mediaType, digest: d.digest, bytes: file.bytes, manifests: read.map((r) => r.archived) };
  const found = children.map(platformOf).map((p) => p || 'no platform');
  const amd64Image = read.find((r, j) => isAmd64(children[j]!));
  return {
    archived,
    v1: amd64[0]?.v1,
    noV1: amd64Image ? amd64Image.noV1 && `(its linux/amd64 image) ${amd64Image.noV1}` : 'has no linux/amd64 image',
    noAmd64: `entry ${quoteName(file.path)}: no linux/amd64 image in this index (found: ${found.join(', ') || 'nothing'}); no image is published for Docker v1 clients`,
  };
}

/**
 * The media type a manifest or index is stored and served with: its own `mediaType`, which
 * must be the one the descriptor naming it gives (when it has one) and a type raas
 * publishes. A type taken from the archive becomes a Content-Type in storage.
 */
function declaredType(value: Record<string, unknown>, listed: string | undefined, allowed: ReadonlySet<string>, fail: Fail): string {
  const own = value['mediaType'];
  // Without either, OCI's own rule: a manifest without mediaType is an OCI image manifest.
  if (own === undefined) return listed ?? OCI_MANIFEST;
  if (typeof own !== 'string' || !allowed.has(own)) return fail(`"mediaType" ${quoteName(String(own))} is not a manifest type raas publishes`);
  if (listed !== undefined && own !== listed) return fail(`"mediaType" is ${quoteName(own)}, but the descriptor naming it says ${quoteName(listed)}`);
  return own;
}

const platformOf = (c: Descriptor): string => [c.platform?.['os'], c.platform?.['architecture'], c.platform?.['variant']].filter(Boolean).join('/');
const isAmd64 = (c: Descriptor): boolean => c.platform?.['os'] === 'linux' && c.platform['architecture'] === 'amd64';

function indexChildren(index: TarIndex, file: JsonFile, limits: ArchiveLimits): Descriptor[] {
  const listed = asArray(asObject(file.value, 'image index', file.fail)['manifests'], '"manifests"', file.fail);
  countDescriptors(index, listed.length, limits, `entry ${quoteName(file.path)}`);
  return listed.map((v, i) => descriptor(v, `manifests[${i}]`, file.fail));
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
  const children = indexChildren(index, file, limits);
  const amd64 = children.filter(isAmd64);
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

/** Layer media types a Docker v1 client can unpack as a layer tar (OCI and Docker, plain or gzip). */
const V1_LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar', 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

/**
 * A manifest as archived, and its v1 view when it is an image Docker v1 can carry (an image
 * config with rootfs.diff_ids, and layers of tar media types). Anything else (signatures,
 * SBOMs and other artifacts, zstd layers) is published by the v2 layouts only.
 */
async function readManifest(reader: ImageReader, manifestFile: JsonFile, listedAs: Descriptor | undefined): Promise<{ archived: ArchivedImage; v1: ImageDraft[] | undefined; noV1?: string }> {
  const { index, limits } = reader;
  const { fail } = manifestFile;
  const manifest = asObject(manifestFile.value, 'image manifest', fail);
  const configDescriptor = descriptor(manifest['config'], 'config', fail);
  const listed = asArray(manifest['layers'], '"layers"', fail);
  countDescriptors(index, listed.length + 1, limits, `entry ${quoteName(manifestFile.path)}`);
  const layers = listed.map((v, i) => descriptor(v, `layers[${i}]`, fail));
  const subject = manifest['subject'] === undefined ? undefined : descriptor(manifest['subject'], 'subject', fail).digest;
  const configFile = await readBlob(index, configDescriptor, 'config', limits);
  const entries = layers.map((d, j) => {
    const path = blobPath(d.digest);
    const entry = index.file(path) ?? fail(`layers[${j}] ${d.digest} is not in the archive (no entry ${quoteName(path)})`);
    if (entry.size !== d.size) index.fail(`entry ${quoteName(path)}: layer of ${entry.size} bytes, but its descriptor declares ${d.size}`);
    return entry;
  });
  const isImage = IMAGE_CONFIG_TYPES.has(configDescriptor.mediaType) && layers.length > 0 && layers.every((l) => V1_LAYER_TYPES.has(l.mediaType) || l.mediaType.startsWith('application/vnd.oci.image.layer.'));
  const diffIds = isImage ? readDiffIds(configFile, layers.length) : undefined;
  const sources = layers.map((d, j) => ({ id: digestHex(d.digest), layer: index.blob(entries[j]!), layerDigest: d.digest, diffId: diffIds?.[j], mediaType: d.mediaType }));
  const platform = listedAs?.platform;
  const archived: ArchivedImage = {
    kind: 'image', mediaType: declaredType(manifest, listedAs?.mediaType, MANIFEST_TYPES, fail),
    digest: toDigest(sha256Hex(manifestFile.bytes)), bytes: manifestFile.bytes,
    platform: platform && typeof platform['os'] === 'string' && typeof platform['architecture'] === 'string'
      ? { os: platform['os'], architecture: platform['architecture'], ...(typeof platform['variant'] === 'string' ? { variant: platform['variant'] } : {}) }
      : undefined,
    config: { mediaType: configDescriptor.mediaType, digest: configDescriptor.digest, bytes: configFile.bytes },
    layers: sources, subject,
  };
  if (!isImage) return { archived, v1: undefined };
  const other = layers.find((l) => !V1_LAYER_TYPES.has(l.mediaType));
  if (other) return { archived, v1: undefined, noV1: `has a layer Docker v1 cannot unpack (${other.mediaType})` };
  return { archived, v1: await v1View(reader, configFile, diffIds!, sources, configDescriptor.digest) };
}

function readDiffIds(configFile: JsonFile, layers: number): Digest[] {
  const config = asObject(configFile.value, 'image config', configFile.fail);
  const rootfs = asObject(config['rootfs'], '"rootfs"', configFile.fail);
  const diffIds = asArray(rootfs['diff_ids'], '"rootfs.diff_ids"', configFile.fail).map((d, j) => asDigest(d, `"rootfs.diff_ids"[${j}]`, configFile.fail));
  if (diffIds.length !== layers) configFile.fail(`lists ${diffIds.length} diff_ids but its manifest has ${layers} layers`);
  return diffIds;
}

/** The v1 images of an image manifest, ids derived from its config. */
async function v1View(reader: ImageReader, configFile: JsonFile, diffIds: readonly Digest[], layers: readonly { layer: ImageDraft['layer']; layerDigest: Digest; mediaType: string }[], configDigest: Digest): Promise<ImageDraft[]> {
  // The ids follow from the config alone (its diff_ids included), so manifests sharing a config share them.
  let derived = reader.derived.get(configDigest);
  if (!derived) {
    try {
      derived = deriveV1Images(asObject(configFile.value, 'image config', configFile.fail), diffIds);
    } catch (err) {
      return configFile.fail(`cannot derive v1 ids: ${(err as Error).message}`);
    }
    reader.derived.set(configDigest, derived);
  }
  return derived.map((v1, j) => ({
    ...v1,
    layer: layers[j]!.layer,
    layerDigest: layers[j]!.layerDigest,
    diffId: diffIds[j],
    mediaType: layers[j]!.mediaType,
    ...(j === derived.length - 1 ? { config: { bytes: configFile.bytes, digest: configDigest } } : {}),
    source: configFile.path,
  }));
}
