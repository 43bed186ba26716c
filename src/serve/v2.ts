import type { CraneData, V2Repo } from './data.ts';

/**
 * Crane's v2 API (crane/views/v2.py, crane/app_util.py, crane/api/repository.py): every
 * `/v2/<name>/<tags|manifests|blobs>/...` request is answered with a 302 into the
 * repository's Pulp v2 web layout; only manifests need a choice of file.
 */

export type Redirect = { readonly location: string } | { readonly status: 404 };

const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
const MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const COMPONENTS = ['tags', 'manifests', 'blobs'];

/**
 * Crane's split of a v2 path into repository name and file path: at the first occurrence
 * of each of "tags", "manifests", "blobs" found anywhere in it, the last such word
 * winning. Names containing those words are therefore cut short, as in Crane.
 */
export function splitV2Path(relative: string): { name: string; path: string } | undefined {
  let found: { name: string; path: string } | undefined;
  for (const component of COMPONENTS) {
    const at = relative.indexOf(component);
    if (at >= 0) found = { name: relative.slice(0, at).replace(/^\/+|\/+$/g, ''), path: relative.slice(at) };
  }
  return found;
}

/** Media types a client accepts, without parameters, as Crane's get_accept_headers parses them. */
const accepted = (accept: string | undefined): Set<string> =>
  new Set((accept ?? '').split(',').map((t) => t.split(';')[0]!.trim()).filter(Boolean));

/** Which manifest file answers `identifier` for a client with this Accept header. */
function manifestPath(repo: V2Repo, identifier: string, accept: Set<string>): string {
  // Version 2 files predate schema 2: Crane redirects to the path as asked.
  if (repo.schema2 === undefined) return `manifests/${identifier}`;
  if (repo.schema2.length === 0 && repo.manifestLists.length === 0) return `manifests/1/${identifier}`;
  if (accept.has(MANIFEST_LIST) && repo.manifestLists.includes(identifier)) return `manifests/list/${identifier}`;
  const amd64 = Object.hasOwn(repo.amd64Tags, identifier) ? repo.amd64Tags[identifier] : undefined;
  if (Array.isArray(amd64)) {
    const [digest, version] = amd64 as [unknown, unknown];
    if (accept.has(SCHEMA2)) return `manifests/${String(version)}/${String(digest)}`;
    return version === 1 ? `manifests/1/${String(digest)}` : `manifests/1/${identifier}`;
  }
  return accept.has(SCHEMA2) && repo.schema2.includes(identifier) ? `manifests/2/${identifier}` : `manifests/1/${identifier}`;
}

/** Where `/v2/<relative>` sends the client. Unknown and protected repositories are 404, as for a client without a certificate. */
export function v2Redirect(data: CraneData, relative: string, accept: string | undefined): Redirect {
  const split = splitV2Path(relative);
  const repo = split && data.v2.get(split.name);
  if (!split || !repo || repo.protected) return { status: 404 };
  let path = split.path;
  if (path.startsWith('manifests')) {
    const parts = path.split('/');
    // Crane unpacks exactly two parts and fails with 500 on any other count.
    if (parts.length !== 2) return { status: 404 };
    path = manifestPath(repo, parts[1]!, accepted(accept));
  }
  return { location: `${repo.url.endsWith('/') ? repo.url : `${repo.url}/`}${path}` };
}
