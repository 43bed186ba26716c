import type { Store } from '../storage/store.ts';
import type { ManifestCache } from './manifests.ts';

/**
 * The ISV's store as raas serve reads it. A repository whose `url` lies under the store's
 * public URL is answered from the store (manifests, tag lists, blobs from a directory,
 * pre-signed redirects for a private bucket); any other repository (another party's) is
 * redirected to, as Crane does.
 */
export interface Backend {
  readonly store: Store;
  /** Lifetime of pre-signed blob URLs (private buckets). */
  readonly presignSeconds: number;
  readonly manifests: ManifestCache;
}

/** The store key of `path` under a repository's `url`, when the url is the store's. */
export function keyUnder(backend: Backend | undefined, url: string, path: string): string | undefined {
  if (!backend) return undefined;
  const base = backend.store.publicUrl('');
  const full = `${url.endsWith('/') ? url : `${url}/`}${path}`;
  if (!full.startsWith(base)) return undefined;
  try {
    return full.slice(base.length).split('/').map(decodeURIComponent).join('/');
  } catch {
    return undefined;
  }
}

/** The URL a client is sent to for `path` of a repository. */
export const urlUnder = (url: string, path: string): string => `${url.endsWith('/') ? url : `${url}/`}${path}`;
