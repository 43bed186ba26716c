import { InputError } from '../errors.ts';
import { isHex64 } from '../image/model.ts';

/**
 * Crane "redirect files": the only state a Crane registry has. Crane's loader
 * (crane/data.py) reads `version`, `repo-registry-id`, `url`, `protected` (optional,
 * default false) and, for version 1, `images` (a list of objects with `id`) and `tags`;
 * it serves `images` and `tags` to clients verbatim. `type` and `repository` are what
 * Pulp writes and Crane ignores; they are kept so the files stay identical in shape to
 * Pulp's.
 */
export const REDIRECT_TYPE = 'pulp-docker-redirect';

export interface RedirectV1 {
  readonly type: typeof REDIRECT_TYPE;
  readonly version: 1;
  readonly repository: string;
  readonly 'repo-registry-id': string;
  readonly url: string;
  readonly protected: boolean;
  readonly images: readonly { readonly id: string }[];
  readonly tags: Readonly<Record<string, string>>;
}

export interface V1RedirectInput {
  /** Pulp repository id (`<isv>-<flat image name>`). */
  readonly repository: string;
  /** The name clients pull, e.g. `acme/app`. */
  readonly registryId: string;
  /** Absolute base URL the image files live under; a missing final "/" is added. */
  readonly url: string;
  readonly imageIds: readonly string[];
  readonly tags: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
}

export function buildV1Redirect(input: V1RedirectInput): RedirectV1 {
  const where = `Crane metadata for ${input.registryId}`;
  const ids = [...new Set(input.imageIds)];
  const bad = ids.find((id) => !isHex64(id));
  if (bad !== undefined) throw new InputError(`image id '${bad}' is not 64 lowercase hex characters`, { where });
  const known = new Set(ids);
  const entries = input.tags instanceof Map ? [...input.tags] : Object.entries(input.tags);
  for (const [tag, id] of entries) {
    if (!known.has(id)) throw new InputError(`tag '${tag}' points to ${id}, which is not one of the images`, { where });
  }
  return {
    type: REDIRECT_TYPE,
    version: 1,
    repository: input.repository,
    'repo-registry-id': input.registryId,
    url: input.url.endsWith('/') ? input.url : `${input.url}/`,
    protected: false,
    images: ids.map((id) => ({ id })),
    tags: Object.fromEntries(entries),
  };
}

/**
 * Version 3: the Docker v2 API over Pulp's v2 web layout under `url`. Crane redirects
 * `/v2/<name>/blobs/<digest>` and `/tags/list` to `url` + the same path, and a manifest
 * request to `manifests/2/<ref>` when the client accepts schema 2 and `schema2_data` lists
 * the tag or digest, else to `manifests/1/<ref>` (crane/views/v2.py). Every Crane that
 * serves schema 2 loads version 3; version 4 adds only manifest lists.
 */
export interface RedirectV3 {
  readonly type: typeof REDIRECT_TYPE;
  readonly version: 3;
  readonly repository: string;
  readonly 'repo-registry-id': string;
  readonly url: string;
  readonly protected: boolean;
  readonly schema2_data: readonly string[];
}

/**
 * Version 4 (Crane 2.0 and later, 3.3.1 included): adds manifest lists. For a tag or digest
 * in `manifest_list_data` Crane redirects a client that accepts lists to
 * `manifests/list/<ref>`; any other client asking for a listed tag is sent to the manifest
 * `manifest_list_amd64_tags` names for it ([digest, schema version]), else to
 * `manifests/2/<ref>` as in version 3.
 */
export interface RedirectV4 extends Omit<RedirectV3, 'version'> {
  readonly version: 4;
  readonly manifest_list_data: readonly string[];
  readonly manifest_list_amd64_tags: Readonly<Record<string, readonly [string, 2]>>;
}

export interface V3RedirectInput {
  readonly repository: string;
  readonly registryId: string;
  readonly url: string;
  /** Tags and manifest digests that have a schema 2 (or OCI) manifest under `url`. */
  readonly schema2: Iterable<string>;
  /** Tags and digests of manifest lists (OCI indexes) under `url`: version 4 when there are any. */
  readonly lists?: Iterable<string>;
  /** Listed tag -> digest of its linux/amd64 manifest, for clients that do not accept lists. */
  readonly amd64?: ReadonlyMap<string, string>;
}

// A Docker tag, or a digest; the two cannot be confused (tags have no ":").
export const isSchema2Ref = (ref: string): boolean => /^(?:[\w][\w.-]{0,127}|sha256:[0-9a-f]{64})$/.test(ref);

/** Version 3, or version 4 when there are manifest lists. */
export function buildV3Redirect(input: V3RedirectInput): RedirectV3 | RedirectV4 {
  const sorted = (refs: Iterable<string>): string[] => {
    const unique = [...new Set(refs)].sort();
    const bad = unique.find((ref) => !isSchema2Ref(ref));
    if (bad !== undefined) throw new InputError(`'${bad}' is neither a tag nor a sha256 digest`, { where: `Crane metadata for ${input.registryId}` });
    return unique;
  };
  const v3: RedirectV3 = {
    type: REDIRECT_TYPE,
    version: 3,
    repository: input.repository,
    'repo-registry-id': input.registryId,
    url: input.url.endsWith('/') ? input.url : `${input.url}/`,
    protected: false,
    schema2_data: sorted(input.schema2),
  };
  const lists = sorted(input.lists ?? []);
  if (lists.length === 0) return v3;
  const amd64 = [...(input.amd64 ?? new Map<string, string>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  sorted(amd64.flatMap(([tag, digest]) => [tag, digest]));
  return { ...v3, version: 4, manifest_list_data: lists, manifest_list_amd64_tags: Object.fromEntries(amd64.map(([tag, digest]) => [tag, [digest, 2] as const])) };
}

/** Pulp's field order first, so files read the same as Pulp's; anything else after, sorted. */
const TOP_LEVEL_ORDER = [
  'type', 'version', 'repository', 'repo-registry-id', 'url', 'protected', 'images', 'tags',
  'schema2_data', 'manifest_list_data', 'manifest_list_amd64_tags',
];

function canonical(value: unknown, order: readonly string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v) => canonical(v));
  if (value === null || typeof value !== 'object') return value;
  const rank = (key: string) => (order.includes(key) ? order.indexOf(key) : order.length);
  const keys = Object.keys(value).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
}

/**
 * The bytes deployed: the same object always serializes to the same text, so an unchanged
 * redirect file never makes a new commit in the Crane app repository.
 */
export function serializeRedirect(redirect: RedirectV1 | RedirectV3 | RedirectV4 | Readonly<Record<string, unknown>>): string {
  return `${JSON.stringify(canonical(redirect, TOP_LEVEL_ORDER), null, 2)}\n`;
}
