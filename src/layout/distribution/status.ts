import pLimit from 'p-limit';
import { isDigest, sha256Hex, toDigest } from '../../image/digest.ts';
import { imageManifestDescriptors, indexDescriptors } from '../../image/manifest-json.ts';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../../image/media-types.ts';
import type { Digest } from '../../image/model.ts';
import type { ListedObject, Store } from '../../storage/store.ts';
import { check, counted, some, type Check } from '../../status/checks.ts';
import { request } from '../../status/http.ts';
import { blobDataKey, layerLinkKey, listedTags, repositoryPrefix, revisionLinkKey, tagCurrentKey, tagIndexKey, type DistributionRoot } from './keys.ts';

/** Manifests are small; a "manifest" larger than this is not one a registry accepted. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_LINK_BYTES = 1024;

export interface DistributionImage {
  /** The repository name (the image name clients pull). */
  readonly name: string;
  /** tag -> manifest digest as the configuration repository recorded it; empty when there is no record. */
  readonly recorded: Readonly<Record<string, Digest>>;
}

export interface DistributionContext {
  readonly store: Store;
  readonly root: DistributionRoot;
  /** The registry's base URL, ending in "/", when it answers /v2/. */
  readonly registry: string | undefined;
  readonly concurrency: number;
  readonly signal: AbortSignal;
}

interface Descriptor {
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
}

/**
 * The checks of one image in the Distribution layout, as a stock registry resolves it:
 * every tag's current link names a manifest revision of the repository, whose blob is in
 * the store with the bytes its digest names, and whose config and layers are blobs of the
 * size the manifest says, linked into the repository (foreign layers excepted: their host
 * serves them). Then, when the registry answers, each tag through its /v2/ API.
 */
export async function checkDistributionImage(ctx: DistributionContext, image: DistributionImage): Promise<Check[]> {
  const { store, root } = ctx;
  const limit = pLimit(Math.max(1, ctx.concurrency));
  let listing: Map<string, ListedObject>;
  try {
    listing = await store.list(repositoryPrefix(root, image.name));
  } catch (error) {
    return [check('repository', image.name, 'failed', (error as Error).message)];
  }
  const stored = listedTags(root, image.name, listing.keys());
  const tags = [...new Set([...Object.keys(image.recorded), ...stored])].sort();
  if (tags.length === 0) return [check('repository', image.name, 'failed', `no tag of ${image.name} in ${store.location}${repositoryPrefix(root, image.name)}`)];

  const failures: string[] = [];
  const warnings: string[] = [];
  const resolved = new Map<string, Digest>();
  const manifests = new Map<Digest, Promise<Descriptor[] | undefined>>();
  let blobs = 0;
  let foreign = 0;

  const readManifest = (digest: Digest): Promise<Descriptor[] | undefined> => {
    if (!manifests.has(digest)) manifests.set(digest, manifestBlobs(digest));
    return manifests.get(digest)!;
  };
  const manifestBlobs = async (digest: Digest): Promise<Descriptor[] | undefined> => {
    const key = blobDataKey(root, digest);
    // Only the read takes a slot: an index's manifests are read while it holds none.
    const got = await limit(() => store.read(key, { maxBytes: MAX_MANIFEST_BYTES })).catch((error: Error) => error);
    if (got instanceof Error || got === undefined) {
      failures.push(`manifest ${digest} ${got ? `cannot be read: ${got.message}` : `is missing: there is no ${key}`}`);
      return undefined;
    }
    if (toDigest(sha256Hex(got.body)) !== digest) {
      failures.push(`${key} holds other bytes than manifest ${digest}`);
      return undefined;
    }
    const children = indexDescriptors(got.body)?.map((d) => d.digest);
    if (children) {
      // An index: each manifest it lists is a revision of the repository, with its blobs.
      const blobsOfChildren: Descriptor[] = [];
      for (const child of children) {
        if (!listing.has(revisionLinkKey(root, image.name, child))) {
          failures.push(`index ${digest} lists manifest ${child}, which is not a revision of ${image.name} (no ${revisionLinkKey(root, image.name, child)})`);
          continue;
        }
        blobsOfChildren.push(...((await readManifest(child)) ?? []));
      }
      return blobsOfChildren;
    }
    const descriptors = imageManifestBlobs(got.body);
    if (!descriptors) failures.push(`manifest ${digest} is not an image manifest or index raas can check (schema 2 or OCI)`);
    return descriptors;
  };

  await Promise.all(tags.map(async (tag) => {
    const current = tagCurrentKey(root, image.name, tag);
    if (!listing.has(current)) {
      failures.push(`tag ${tag} was published (${image.recorded[tag]}) but has no ${current}`);
      return;
    }
    const link = await limit(() => readLink(store, current));
    if (!link) {
      failures.push(`${current} does not hold a sha256 digest`);
      return;
    }
    resolved.set(tag, link);
    const recorded = image.recorded[tag];
    if (recorded !== undefined && recorded !== link) warnings.push(`tag ${tag} is ${link} in storage but ${recorded} in the configuration repository's record (pushed since by another way?)`);
    if (recorded === undefined) warnings.push(`tag ${tag} is in storage but in no record of the configuration repository (pushed through the registry, or with --no-commit?)`);
    if (!listing.has(revisionLinkKey(root, image.name, link))) {
      failures.push(`tag ${tag} points to manifest ${link}, which is not a revision of ${image.name} (no ${revisionLinkKey(root, image.name, link)})`);
      return;
    }
    if (!listing.has(tagIndexKey(root, image.name, tag, link))) warnings.push(`tag ${tag} has no index entry for ${link}`);
    const descriptors = await readManifest(link);
    for (const d of descriptors ?? []) {
      if (d.urls && d.urls.length > 0) {
        foreign += 1;
        continue;
      }
      blobs += 1;
      const info = await limit(() => store.stat(blobDataKey(root, d.digest)));
      if (!info) failures.push(`blob ${d.digest} of tag ${tag} is missing: there is no ${blobDataKey(root, d.digest)}`);
      else if (info.size !== d.size) failures.push(`blob ${d.digest} of tag ${tag} is ${info.size} bytes, but its manifest says ${d.size}`);
      if (!listing.has(layerLinkKey(root, image.name, d.digest))) failures.push(`blob ${d.digest} of tag ${tag} is not linked into ${image.name} (no ${layerLinkKey(root, image.name, d.digest)}): the registry answers 404 for it`);
    }
  }));

  const checks: Check[] = [];
  const foreignNote = foreign > 0 ? `; ${counted(foreign, 'foreign layer')} served by their host` : '';
  if (failures.length > 0) checks.push(check('repository', image.name, 'failed', some(failures.sort(), 3)));
  else if (warnings.length > 0) checks.push(check('repository', image.name, 'warning', some(warnings.sort(), 3)));
  else checks.push(check('repository', image.name, 'ok', `${counted(tags.length, 'tag')} resolve to ${counted(manifests.size, 'manifest')} whose ${counted(blobs, 'blob')} are in ${store.location}${foreignNote}`));
  if (ctx.registry && resolved.size > 0) checks.push(await registryTags(ctx, image.name, resolved));
  return checks;
}

async function readLink(store: Store, key: string): Promise<Digest | undefined> {
  const got = await store.read(key, { maxBytes: MAX_LINK_BYTES }).catch(() => undefined);
  const text = got?.body.toString('utf8').trim();
  return text !== undefined && isDigest(text) ? text : undefined;
}

/** The config and layers of an image manifest, each with the size a registry checks; undefined for anything else. */
export function imageManifestBlobs(bytes: Buffer): Descriptor[] | undefined {
  const descriptors = imageManifestDescriptors(bytes);
  return descriptors?.every((d) => Number.isSafeInteger(d.size)) ? (descriptors as Descriptor[]) : undefined;
}

/** Each tag as a client pulls it: the registry answers its manifest with the digest storage holds. */
async function registryTags(ctx: DistributionContext, name: string, tags: ReadonlyMap<string, Digest>): Promise<Check> {
  const accept = [DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX].join(', ');
  const limit = pLimit(Math.max(1, ctx.concurrency));
  const problems = (await Promise.all([...tags].map(([tag, digest]) => limit(async () => {
    const path = `v2/${name}/manifests/${tag}`;
    const answer = await request(new URL(path, ctx.registry), 'GET', ctx.signal, accept, MAX_MANIFEST_BYTES);
    if (answer.status !== 200) return `/${path} answers ${answer.said}`;
    const served = answer.digest ?? (answer.complete ? toDigest(sha256Hex(answer.body)) : undefined);
    return served === digest ? undefined : `/${path} serves manifest ${served ?? '(unknown digest)'}, but storage holds ${digest}`;
  })))).filter((p): p is string => p !== undefined);
  return problems.length > 0
    ? check('registry-tags', name, 'failed', some(problems, 3))
    : check('registry-tags', name, 'ok', `${counted(tags.size, 'tag')} resolve through the registry's /v2/ to the manifests in storage`);
}
