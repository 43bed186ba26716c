import type http from 'node:http';
import type { Snapshot } from './source.ts';
import type { V2Repo } from './data.ts';
import { keyUnder, urlUnder, type Backend } from './backend.ts';
import { blobReply } from './blobs.ts';
import { isSha256Digest, isTag, isValidName, looksLikeDigest } from './guard.ts';
import type { Manifest } from './manifests.ts';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST } from '../image/media-types.ts';
import { API_VERSION, json, redirect, v2Error, type Reply } from './reply.ts';

/**
 * The Docker v2 API over Crane's v2 repositories (crane/views/v2.py, crane/app_util.py),
 * with what Crane leaves to the store answered here: manifests (GET and HEAD, by tag and
 * by digest, with their media type, length and digest), tag lists with pagination, the
 * OCI 1.1 referrers endpoint, and errors in the distribution spec's format.
 *
 * Paths are split on whole segments from the end, as the endpoints are defined, so a name
 * may contain "blobs", "manifests" or "tags" (Crane 3.3 splits at the last such segment,
 * which agrees for every request Crane can answer).
 */
export interface V2Request {
  readonly snapshot: Snapshot;
  readonly backend: Backend | undefined;
  /** The segments after "/v2/". */
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
  readonly request: http.IncomingMessage;
}

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

type Endpoint =
  | { readonly kind: 'manifest' | 'blob' | 'referrers'; readonly name: string[]; readonly ref: string }
  | { readonly kind: 'tags'; readonly name: string[] };

function endpoint(segments: readonly string[]): Endpoint | undefined {
  const n = segments.length;
  if (n >= 3 && segments[n - 2] === 'tags' && segments[n - 1] === 'list') return { kind: 'tags', name: segments.slice(0, n - 2) };
  const kinds = { manifests: 'manifest', blobs: 'blob', referrers: 'referrers' } as const;
  const kind = n >= 3 ? kinds[segments[n - 2] as keyof typeof kinds] : undefined;
  return kind ? { kind, name: segments.slice(0, n - 2), ref: segments[n - 1]! } : undefined;
}

/** The repository of a name (Crane strips docker's "library/" in its v1 API only). */
function repoFor(snapshot: Snapshot, name: string): V2Repo | undefined {
  const repo = snapshot.data.v2.get(name);
  // Protected repositories need an entitlement certificate in Crane; raas serve answers as Crane does without one.
  return repo && !repo.protected ? repo : undefined;
}

/** Media types a client accepts, without parameters, as Crane's get_accept_headers parses them. */
const accepted = (accept: string | string[] | undefined): Set<string> =>
  new Set((Array.isArray(accept) ? accept.join(',') : (accept ?? '')).split(',').map((t) => t.split(';')[0]!.trim()).filter(Boolean));

/** Crane's choice of manifest file for `identifier` (crane/views/v2.py name_serve_or_redirect). */
export function cranePath(repo: V2Repo, identifier: string, accept: Set<string>): string {
  if (repo.schema2 === undefined) return `manifests/${identifier}`;
  if (repo.schema2.length === 0 && repo.manifestLists.length === 0) return `manifests/1/${identifier}`;
  if (accept.has(DOCKER_MANIFEST_LIST) && repo.manifestLists.includes(identifier)) return `manifests/list/${identifier}`;
  const amd64 = Object.hasOwn(repo.amd64Tags, identifier) ? repo.amd64Tags[identifier] : undefined;
  if (amd64 !== undefined) {
    const [digest, version] = Array.isArray(amd64) ? (amd64 as [unknown, unknown]) : [undefined, undefined];
    if (accept.has(DOCKER_MANIFEST)) return `manifests/${String(version)}/${String(digest)}`;
    return version === 1 ? `manifests/1/${String(digest)}` : `manifests/1/${identifier}`;
  }
  return accept.has(DOCKER_MANIFEST) && repo.schema2.includes(identifier) ? `manifests/2/${identifier}` : `manifests/1/${identifier}`;
}

/**
 * Crane's choice first; then, where raas answers from the store and Crane's file is not
 * there (raas publishes no schema 1), the schema 2 manifest or list the metadata lists.
 */
function manifestPaths(repo: V2Repo, identifier: string, accept: Set<string>): string[] {
  const paths = [cranePath(repo, identifier, accept)];
  if (repo.schema2?.includes(identifier)) paths.push(`manifests/2/${identifier}`);
  if (repo.manifestLists.includes(identifier)) paths.push(`manifests/list/${identifier}`);
  return [...new Set(paths)];
}

const manifestHeaders = (m: Manifest): Record<string, string> => ({
  ...API_VERSION, 'Content-Type': m.mediaType, 'Content-Length': String(m.bytes.length), 'Docker-Content-Digest': m.digest, ETag: `"${m.digest}"`,
});

async function manifest(req: V2Request, repo: V2Repo, ref: string): Promise<Reply> {
  const byDigest = looksLikeDigest(ref);
  if (byDigest && !isSha256Digest(ref)) return v2Error('DIGEST_INVALID', 'provided digest is not a sha256 digest', { digest: ref });
  if (!byDigest && !isTag(ref)) return v2Error('MANIFEST_UNKNOWN', 'manifest unknown', { tag: ref });
  const paths = manifestPaths(repo, ref, accepted(req.request.headers.accept));
  const { backend } = req;
  const keys = paths.map((p) => keyUnder(backend, repo.url, p));
  if (!backend || keys[0] === undefined) return redirect(urlUnder(repo.url, paths[0]!));
  for (const key of keys) {
    const found = key === undefined ? undefined : await backend.manifests.get(key, req.snapshot.generation, byDigest ? ref : undefined);
    if (found) return { status: 200, headers: manifestHeaders(found), body: found.bytes };
  }
  return v2Error('MANIFEST_UNKNOWN', 'manifest unknown', byDigest ? { digest: ref } : { tag: ref });
}

/** Every tag the metadata names (versions 3 and 4); undefined for version 2, which names none. */
function metadataTags(repo: V2Repo): string[] | undefined {
  if (repo.schema2 === undefined) return undefined;
  const refs = [...repo.schema2, ...repo.manifestLists, ...Object.keys(repo.amd64Tags)];
  return [...new Set(refs.filter((r): r is string => typeof r === 'string' && isTag(r)))].sort();
}

async function tagsList(req: V2Request, repo: V2Repo, name: string): Promise<Reply> {
  const nParam = req.query.get('n');
  const last = req.query.get('last') ?? undefined;
  if (nParam !== null && !/^\d{1,9}$/.test(nParam)) return v2Error('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { n: nParam });
  let tags = metadataTags(repo);
  if (tags === undefined) {
    const key = keyUnder(req.backend, repo.url, 'tags/list');
    if (!req.backend || key === undefined) return redirect(urlUnder(repo.url, 'tags/list'));
    const stored = await req.backend.store.read(key, { maxBytes: 4 * 1024 * 1024 });
    const parsed = stored ? (JSON.parse(stored.body.toString('utf8')) as { tags?: unknown }) : undefined;
    tags = Array.isArray(parsed?.tags) ? parsed.tags.filter((t): t is string => typeof t === 'string').sort() : [];
  }
  const after = last === undefined ? tags : tags.filter((t) => t > last);
  const n = nParam === null ? undefined : Number(nParam);
  const page = n === undefined ? after : after.slice(0, n);
  const headers: Record<string, string> = { ...API_VERSION };
  if (n !== undefined && n > 0 && page.length < after.length) {
    headers.Link = `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"`;
  }
  return json(200, { name, tags: page }, headers);
}

async function referrers(req: V2Request, repo: V2Repo, digest: string): Promise<Reply> {
  if (!isSha256Digest(digest)) return v2Error('DIGEST_INVALID', 'provided digest is not a sha256 digest', { digest });
  const artifactType = req.query.get('artifactType') ?? undefined;
  const candidates = [...new Set([...(repo.schema2 ?? []), ...repo.manifestLists])].filter((r): r is string => typeof r === 'string' && isSha256Digest(r));
  const found: Record<string, unknown>[] = [];
  const { backend } = req;
  for (const candidate of backend ? candidates : []) {
    for (const path of [`manifests/2/${candidate}`, `manifests/list/${candidate}`]) {
      const key = keyUnder(backend, repo.url, path);
      const m = key === undefined ? undefined : await backend!.manifests.get(key, req.snapshot.generation, candidate);
      if (!m) continue;
      let parsed: { subject?: { digest?: unknown }; artifactType?: unknown; config?: { mediaType?: unknown }; annotations?: unknown };
      try {
        parsed = JSON.parse(m.bytes.toString('utf8'));
      } catch {
        break;
      }
      if (parsed.subject?.digest !== digest) break;
      const type = typeof parsed.artifactType === 'string' ? parsed.artifactType : typeof parsed.config?.mediaType === 'string' ? parsed.config.mediaType : undefined;
      if (artifactType === undefined || type === artifactType) {
        found.push({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, ...(type ? { artifactType: type } : {}), ...(parsed.annotations ? { annotations: parsed.annotations } : {}) });
      }
      break;
    }
  }
  const headers: Record<string, string> = { ...API_VERSION, 'Content-Type': OCI_INDEX };
  if (artifactType !== undefined) headers['OCI-Filters-Applied'] = 'artifactType';
  return { status: 200, headers, body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: found }) };
}

export async function v2Reply(req: V2Request): Promise<Reply> {
  const { segments, snapshot } = req;
  if (segments.length === 0 || (segments.length === 1 && segments[0] === '')) return json(200, {}, { ...API_VERSION });
  const target = endpoint(segments);
  if (!target) return v2Error('NOT_FOUND', 'no such endpoint of the registry API');
  if (!isValidName(target.name)) return v2Error('NAME_INVALID', 'invalid repository name', { name: target.name.join('/') });
  const name = target.name.join('/');
  const repo = repoFor(snapshot, name);
  if (!repo) return v2Error('NAME_UNKNOWN', 'repository name not known to registry', { name });
  switch (target.kind) {
    case 'tags':
      return tagsList(req, repo, name);
    case 'manifest':
      return manifest(req, repo, target.ref);
    case 'referrers':
      return referrers(req, repo, target.ref);
    case 'blob': {
      if (!isSha256Digest(target.ref)) return v2Error('DIGEST_INVALID', 'provided digest is not a sha256 digest', { digest: target.ref });
      const path = `blobs/${target.ref}`;
      const key = keyUnder(req.backend, repo.url, path);
      if (!req.backend || key === undefined) return redirect(urlUnder(repo.url, path));
      return blobReply(req.backend, key, target.ref, urlUnder(repo.url, path), req.request);
    }
  }
}
