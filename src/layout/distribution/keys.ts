import type { Digest } from '../../image/model.ts';

/**
 * Docker Distribution's storage layout (registry/storage/paths.go), as a stock `registry`
 * reads it under its driver's `rootdirectory`: blobs once per store, shared by every
 * repository, and per repository the links that say which blobs and manifests it holds
 * and what each tag points to. Every link file holds a digest, "sha256:<hex>".
 */
const V2 = 'docker/registry/v2';

export interface DistributionRoot {
  /** The driver's rootdirectory inside the store ("" or "a/b/"). */
  readonly root: string;
}

const hexOf = (digest: Digest): string => digest.slice('sha256:'.length);

export const blobsPrefix = ({ root }: DistributionRoot): string => `${root}${V2}/blobs/`;
export const blobDataKey = (r: DistributionRoot, digest: Digest): string => `${blobsPrefix(r)}sha256/${hexOf(digest).slice(0, 2)}/${hexOf(digest)}/data`;
export const repositoriesPrefix = ({ root }: DistributionRoot): string => `${root}${V2}/repositories/`;
export const repositoryPrefix = (r: DistributionRoot, name: string): string => `${repositoriesPrefix(r)}${name}/`;
export const layerLinkKey = (r: DistributionRoot, name: string, digest: Digest): string => `${repositoryPrefix(r, name)}_layers/sha256/${hexOf(digest)}/link`;
export const revisionLinkKey = (r: DistributionRoot, name: string, digest: Digest): string => `${repositoryPrefix(r, name)}_manifests/revisions/sha256/${hexOf(digest)}/link`;
export const tagsPrefix = (r: DistributionRoot, name: string): string => `${repositoryPrefix(r, name)}_manifests/tags/`;
export const tagCurrentKey = (r: DistributionRoot, name: string, tag: string): string => `${tagsPrefix(r, name)}${tag}/current/link`;
export const tagIndexKey = (r: DistributionRoot, name: string, tag: string, digest: Digest): string => `${tagsPrefix(r, name)}${tag}/index/sha256/${hexOf(digest)}/link`;

/** A link file's body. */
export const linkBody = (digest: Digest): Buffer => Buffer.from(digest);

/** The tags a listing of the repository shows (each tag that has a current link). */
export function listedTags(r: DistributionRoot, name: string, keys: Iterable<string>): string[] {
  const prefix = tagsPrefix(r, name);
  const tags: string[] = [];
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const [tag, current, link, ...rest] = key.slice(prefix.length).split('/');
    if (current === 'current' && link === 'link' && rest.length === 0 && tag) tags.push(tag);
  }
  return tags.sort();
}

/** The backup record of a published image in the configuration repository. */
export const recordName = (flatName: string): string => `${flatName}@distribution.json`;
