import pLimit from 'p-limit';
import { sha256Hex, toDigest } from '../../image/digest.ts';
import { imageManifestDescriptors, indexDescriptors, isStoredOci, type StoredDescriptor } from '../../image/manifest-json.ts';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../../image/media-types.ts';
import type { ListedObject, Store } from '../../storage/store.ts';
import { attempt, check, some, type Check } from '../../status/checks.ts';
import type { PublishedImage, PublishedV2 } from '../../status/deployed.ts';
import { readPublished, resolve } from '../../status/http.ts';
import type { ImageContext } from '../../status/context.ts';
import { appPrefix } from '../crane-v1/keys.ts';
import { blobKey, manifestKey, manifestListKey, ociByDigestKey, tagsListKey, v2Prefix } from './keys.ts';

/**
 * The Docker v2 side of a published image, by the rules of the v1 side: everything its
 * version 3 redirect file lists is in the v2 layout (`<app>/v2/`), objects there that no
 * listed manifest references are orphans, and every tag resolves through the registry's
 * /v2/. Existence is decided by the one listing of the app's prefix; only the manifests
 * are read (where clients read them), to learn which blobs they reference.
 */

/** What the layout holds for the file's tags and digests, and what is wrong with it. */
interface Layout {
  /** Objects the published manifests need in storage. */
  readonly expected: number;
  readonly missing: string[];
  /** Manifests that cannot be read or are not what they should be, blobs of the wrong size. */
  readonly problems: string[];
  /** Keys a published manifest (or the tag list) accounts for. */
  readonly referenced: Set<string>;
  /** Manifest digest -> its config digest, for each manifest read. */
  readonly configs: Map<string, string>;
  /** Tag -> the digest of the manifest stored for it, for each tag's manifest read. */
  readonly tagDigests: Map<string, string>;
  readonly manifests: number;
  readonly blobs: number;
  /** Layers whose descriptor has `urls`: another party hosts them. */
  readonly foreign: number;
  /** Every listed manifest was read: the references are complete, so orphans can be told. */
  readonly complete: boolean;
}

export async function checkV2(ctx: ImageContext, store: Store, image: PublishedImage, listing: ReadonlyMap<string, ListedObject>): Promise<Check[]> {
  const v2 = image.v2;
  if (!v2) return [];
  if (v2.problem) return [check('v2-objects', image.name, 'failed', `not checked: ${ctx.dataDir}/${v2.file} ${v2.problem}`)];
  const layout = await readLayout(ctx, store, image.flat, v2, listing);
  const tags = ctx.registry && ctx.registryV2 && v2.tags.length + v2.lists.tags.length > 0
    ? attempt('v2-tags', image.name, () => checkV2Tags(ctx, store, image, v2, layout, listing))
    : Promise.resolve([]);
  return [objectsCheck(ctx, store, image, v2, layout), ...orphansCheck(image, layout, listing), ...(await tags)];
}

async function readLayout(ctx: ImageContext, store: Store, flat: string, v2: PublishedV2, listing: ReadonlyMap<string, ListedObject>): Promise<Layout> {
  const limit = pLimit(Math.max(1, ctx.concurrency));
  const expected = new Set<string>();
  const problems: string[] = [];
  let unread = 0;
  /** Whether the listing has `key`, which the published manifests need. */
  const expect = (key: string): boolean => {
    expected.add(key);
    return listing.has(key);
  };
  const read = async (key: string): Promise<Buffer | undefined> => {
    const got = await readPublished(store, key, ctx.signal);
    if ('bytes' in got) return got.bytes;
    problems.push(`manifest ${key} cannot be read: ${got.problem}`);
    unread += 1;
    return undefined;
  };

  // The tags' manifests first; the digest one with the same bytes (push writes both) need not be read again.
  const manifests = new Map<string, { key: string; bytes: Buffer }>();
  const tagDigests = new Map<string, string>();
  await Promise.all(v2.tags.filter((tag) => expect(manifestKey(flat, tag))).map((tag) => limit(async () => {
    const key = manifestKey(flat, tag);
    const bytes = await read(key);
    if (!bytes) return;
    const digest = toDigest(sha256Hex(bytes));
    manifests.set(digest, { key, bytes });
    tagDigests.set(tag, digest);
  })));
  await Promise.all(v2.digests.map((digest) => manifestKey(flat, digest)).filter(expect).map((key) => limit(async () => {
    const digest = key.slice(manifestKey(flat, '').length);
    const known = manifests.get(digest);
    const size = listing.get(key)!.size;
    if (known) {
      if (size !== known.bytes.length) problems.push(`manifest ${key} is ${size} bytes, not the ${known.bytes.length} of the same manifest at ${known.key}`);
      return;
    }
    const bytes = await read(key);
    const actual = bytes && toDigest(sha256Hex(bytes));
    if (bytes && actual !== digest) problems.push(`manifest ${key} holds other bytes (${actual})`);
    else if (bytes) manifests.set(digest, { key, bytes });
  })));
  // Lists (version 4): by tag and by digest, each naming manifests that must be stored by digest.
  const lists = new Map<string, { key: string; bytes: Buffer; children: StoredDescriptor[] }>();
  const readList = async (key: string, digest: string | undefined, tag: string | undefined) => {
    const bytes = await read(key);
    if (!bytes) return;
    const actual = toDigest(sha256Hex(bytes));
    if (digest !== undefined && actual !== digest) return void problems.push(`manifest list ${key} holds other bytes (${actual})`);
    if (tag !== undefined) tagDigests.set(tag, actual);
    const children = indexDescriptors(bytes);
    if (!children) return void problems.push(`manifest list ${key} is not a Docker manifest list or OCI index`);
    lists.set(actual, { key, bytes, children });
  };
  await Promise.all([
    ...v2.lists.tags.map((tag) => [manifestListKey(flat, tag), undefined, tag] as const),
    ...v2.lists.digests.map((digest) => [manifestListKey(flat, digest), digest, undefined] as const),
  ].filter(([key]) => expect(key)).map(([key, digest, tag]) => limit(() => readList(key, digest, tag))));
  for (const { key, children } of lists.values()) {
    for (const child of children) {
      const childKey = manifestKey(flat, child.digest);
      if (!expect(childKey)) continue;
      if (manifests.has(child.digest)) continue;
      const bytes = await limit(() => read(childKey));
      const actual = bytes && toDigest(sha256Hex(bytes));
      if (bytes && actual !== child.digest) problems.push(`manifest ${childKey}, listed by ${key}, holds other bytes (${actual})`);
      else if (bytes) manifests.set(child.digest, { key: childKey, bytes });
    }
  }
  if (v2.tags.length + v2.lists.tags.length > 0) expect(tagsListKey(flat));
  // Push writes the tag list even when no tag has a v2 manifest.
  const referenced = new Set([...expected, tagsListKey(flat)]);
  // A tag's manifest is stored by its digest too, which schema2_data may not list (yet).
  for (const digest of manifests.keys()) referenced.add(manifestKey(flat, digest));
  for (const digest of lists.keys()) referenced.add(manifestListKey(flat, digest));
  // An OCI document has a copy where Crane sends containerd for it by digest (keys.ts).
  for (const [digest, { key, bytes }] of [...manifests, ...lists]) {
    if (!isStoredOci(bytes)) continue;
    const copy = ociByDigestKey(flat, digest);
    referenced.add(copy);
    if (!listing.has(copy)) problems.push(`OCI manifest ${key} has no copy at ${copy}, where Crane sends containerd for ${digest}: push the image again to write it`);
    else if (listing.get(copy)!.size !== bytes.length) problems.push(`manifest ${copy} is ${listing.get(copy)!.size} bytes, not the ${bytes.length} of the same manifest at ${key}`);
  }

  const configs = new Map<string, string>();
  const blobs = new Set<string>();
  const foreign = new Set<string>();
  for (const [digest, { key, bytes }] of manifests) {
    const descriptors = imageManifestDescriptors(bytes);
    if (!descriptors) {
      problems.push(`manifest ${key} is not an image manifest (Docker schema 2 or OCI)`);
      unread += 1;
      continue;
    }
    configs.set(digest, descriptors[0]!.digest);
    for (const blob of descriptors) {
      if (Array.isArray(blob.urls) && blob.urls.length > 0) {
        foreign.add(blob.digest);
        continue;
      }
      const blobAt = blobKey(flat, blob.digest);
      if (blobs.has(blobAt)) continue;
      blobs.add(blobAt);
      referenced.add(blobAt);
      if (!expect(blobAt)) continue;
      const size = listing.get(blobAt)!.size;
      if (typeof blob.size === 'number' && size !== blob.size) problems.push(`blob ${blobAt} is ${size} bytes, but manifest ${key} says ${blob.size}`);
    }
  }
  const missing = [...expected].filter((key) => !listing.has(key));
  return {
    expected: expected.size, missing, problems, referenced, configs, tagDigests,
    manifests: manifests.size, blobs: blobs.size, foreign: foreign.size,
    complete: unread === 0 && !missing.some((key) => key.startsWith(manifestKey(flat, '')) || key.startsWith(manifestListKey(flat, ''))),
  };
}

function objectsCheck(ctx: ImageContext, store: Store, image: PublishedImage, v2: PublishedV2, layout: Layout): Check {
  const failures = [
    ...(layout.missing.length > 0 ? [`${layout.missing.length} of ${layout.expected} objects of the v2 layout are missing from ${store.location}: ${some(layout.missing)}`] : []),
    ...layout.problems,
  ];
  if (failures.length > 0) return check('v2-objects', image.name, 'failed', some(failures, 3));
  const unlisted = Object.keys(image.tags).filter((tag) => !v2.tags.includes(tag) && !v2.lists.tags.includes(tag));
  if (unlisted.length > 0) {
    return check('v2-objects', image.name, 'warning',
      `Docker v2 clients cannot pull ${unlisted.length === 1 ? 'tag' : 'tags'} ${some(unlisted)}: ${ctx.dataDir}/${v2.file} does not list ${unlisted.length === 1 ? 'it' : 'them'} (a masked layer without a known host, or not pushed since raas publishes v2)`);
  }
  const foreign = layout.foreign > 0 ? `; ${layout.foreign} foreign ${layout.foreign === 1 ? 'layer' : 'layers'} hosted elsewhere` : '';
  return check('v2-objects', image.name, 'ok',
    `${layout.manifests} ${layout.manifests === 1 ? 'manifest' : 'manifests'} for ${v2.tags.length + v2.lists.tags.length} ${v2.tags.length + v2.lists.tags.length === 1 ? 'tag' : 'tags'} and ${layout.blobs} blobs in ${store.location}${v2Prefix(image.flat)}${foreign}`);
}

/** Objects of the v2 layout no published manifest references; only told when every manifest could be read. */
function orphansCheck(image: PublishedImage, layout: Layout, listing: ReadonlyMap<string, ListedObject>): Check[] {
  if (!layout.complete) return [];
  const prefix = v2Prefix(image.flat);
  const orphans = [...listing.keys()].filter((key) => key.startsWith(prefix) && !layout.referenced.has(key)).sort();
  if (orphans.length === 0) return [];
  return [check('v2-orphans', image.name, 'warning',
    `${orphans.length} ${orphans.length === 1 ? 'object' : 'objects'} of the v2 layout that no published manifest references (an unfinished push, or tags no longer published): ${some(orphans)}`)];
}

/**
 * Every tag as a Docker v2 client resolves it: its manifest, and its image config, through
 * the registry's redirects, or as the registry serves them itself (raas serve), where the
 * bytes must be the ones stored.
 */
async function checkV2Tags(ctx: ImageContext, store: Store, image: PublishedImage, v2: PublishedV2, layout: Layout, listing: ReadonlyMap<string, ListedObject>): Promise<Check> {
  const limit = pLimit(Math.max(1, ctx.concurrency));
  const resolving = { registry: ctx.registry!, store, listing, listed: appPrefix(image.flat), signal: ctx.signal };
  const paths = [
    ...v2.tags.map((tag) => ({ path: `v2/${image.name}/manifests/${tag}`, accept: `${DOCKER_MANIFEST}, ${OCI_MANIFEST}`, digest: layout.tagDigests.get(tag) })),
    ...v2.lists.tags.map((tag) => ({ path: `v2/${image.name}/manifests/${tag}`, accept: `${DOCKER_MANIFEST_LIST}, ${OCI_INDEX}`, digest: layout.tagDigests.get(tag) })),
    ...[...new Set(layout.configs.values())].map((config) => ({ path: `v2/${image.name}/blobs/${config}`, accept: undefined, digest: config })),
  ];
  const problems = (await Promise.all(paths.map(({ path, accept, digest }) => limit(() => resolve(resolving, path, accept, { digest }))))).filter((p): p is string => p !== undefined);
  const count = v2.tags.length + v2.lists.tags.length;
  return problems.length > 0
    ? check('v2-tags', image.name, 'failed', some(problems, 3))
    : check('v2-tags', image.name, 'ok', `${count === 1 ? '1 tag resolves' : `${count} tags resolve`} through the registry's /v2/ to manifests and configs that exist`);
}
