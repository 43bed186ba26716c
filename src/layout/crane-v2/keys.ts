import type { Digest } from '../../image/model.ts';

/**
 * Pulp's v2 "web" layout, which Crane's v2 API redirects into (crane/views/v2.py): under
 * the repository's `url`, `blobs/<digest>`, `manifests/2/<tag or digest>` (schema 2, and
 * OCI manifests), `manifests/list/<tag or digest>` (lists and OCI indexes) and `tags/list`. raas puts it at `<app>/v2/` beside the v1 layout (`<app>/<image-id>/`,
 * where "v2" can never be an image id), so both protocols share one bucket and prefix.
 */
export const v2Prefix = (flatName: string): string => `${flatName}/v2/`;
export const blobKey = (flatName: string, digest: Digest): string => `${v2Prefix(flatName)}blobs/${digest}`;
export const manifestKey = (flatName: string, reference: string): string => `${v2Prefix(flatName)}manifests/2/${reference}`;
/** Pulp's place for manifest lists (and OCI indexes), by tag or digest. */
export const manifestListKey = (flatName: string, reference: string): string => `${v2Prefix(flatName)}manifests/list/${reference}`;
/**
 * Where Crane sends containerd for an OCI manifest or index by digest. Crane's v2 view
 * picks `manifests/2/` only when the Accept header names Docker schema 2, and
 * `manifests/list/` only when it names Docker's list type; every other request goes to
 * the schema 1 place, `manifests/1/<reference>`. containerd asks for what an index or a
 * tag resolved to by digest, accepting only that descriptor's media type (and `*\/*`), so
 * for OCI content it lands here. raas publishes no schema 1; what a client finds here is
 * the OCI document with that digest, which the digest vouches for.
 */
export const ociByDigestKey = (flatName: string, digest: string): string => `${v2Prefix(flatName)}manifests/1/${digest}`;
export const tagsListKey = (flatName: string): string => `${v2Prefix(flatName)}tags/list`;
/** The body of tags/list, as the registry API answers `GET /v2/<name>/tags/list`. */
export const tagsListBody = (registryId: string, tags: Iterable<string>): Buffer => Buffer.from(JSON.stringify({ name: registryId, tags: [...new Set(tags)].sort() }));

/** Tags whose manifest a listing of the app's prefix shows: every tag a push ever wrote. */
export function listedTags(flatName: string, keys: Iterable<string>): string[] {
  const tags = new Set<string>();
  for (const prefix of [manifestKey(flatName, ''), manifestListKey(flatName, '')]) {
    for (const k of keys) if (k.startsWith(prefix) && !k.slice(prefix.length).includes(':')) tags.add(k.slice(prefix.length));
  }
  return [...tags];
}

/** The prefix a listing for listedTags covers: manifests of both kinds. */
export const manifestsPrefix = (flatName: string): string => `${v2Prefix(flatName)}manifests/`;

/**
 * The v2 redirect file beside the v1 one. "@" appears in no ISV or flat image name, so
 * this name can never be another image's v1 file (`acme-app-v2.json` could).
 */
export const v2MetadataName = (isv: string, flatName: string): string => `${isv}-${flatName}@v2.json`;
