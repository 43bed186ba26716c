import { isHex64 } from '../image/model.ts';
import { isSchema2Ref, REDIRECT_TYPE } from './redirect.ts';

/**
 * The one reader of Crane redirect files. It reads a file as Crane 3.3's loader
 * (crane/data.py) does, versions 1 to 4, and checks it against what that loader needs and
 * what Crane's views do with the values (crane/views/v1.py, v2.py, app_util.py). Lint, raas
 * serve, status, the mask loader and the metadata writers all read files through it, so
 * they agree on what a file says and on what is wrong with it.
 *
 * Problems have three severities:
 * - skip: Crane's loader fails on the file (a missing key, a list that is not one), logs
 *   "skipping current metadata load" and serves the other files; this one's repository is
 *   not served.
 * - error: Crane loads the file, but what it says cannot be served as meant (a relative
 *   url, a tag pointing outside the images, a name no client can reach).
 * - warning: served, but probably not what whoever wrote it meant.
 */
export type Severity = 'skip' | 'error' | 'warning';

export interface RedirectProblem {
  readonly severity: Severity;
  readonly message: string;
  /** The top-level key the problem is about, when it is about one. */
  readonly key?: string;
  /** The index (in a list) or name (in an object) of the entry of `key` it is about. */
  readonly entry?: number | string;
}

/**
 * What the file says, field by field. A field is present when it has the type Crane's
 * loader needs, whether or not the whole file loads: reports about a broken file (lint's
 * cross-file checks, status) still see its name and images.
 */
interface Common {
  /** Pulp's Pulp repository id; Crane requires it and ignores its value. */
  readonly repository?: string;
  /** repo-registry-id: the name clients pull. */
  readonly registryId?: string;
  readonly url?: string;
  /** Only `true` protects: a file saying "false" is reported (Python would treat it as true) but served unprotected. */
  readonly protected: boolean;
}

/** An entry of a version 1 file's `images`: an object with an `id`, served to clients as written. */
export type RedirectImage = Readonly<Record<string, unknown>>;

export interface ParsedV1 extends Common {
  readonly version: 1;
  /** As written: Crane serves the list verbatim. Present when every entry is an object with an "id". */
  readonly images?: readonly RedirectImage[];
  /** The entries' ids that are v1 image ids (64 lowercase hex), each once, in the order listed. */
  readonly imageIds: readonly string[];
  /** As written: Crane serves the object verbatim. */
  readonly tags?: Readonly<Record<string, unknown>>;
}

/** Version 2: the Docker v2 API over schema 1 manifests only. */
export interface ParsedV2 extends Common {
  readonly version: 2;
}

/** Version 3: adds the tags and digests that have a schema 2 manifest. */
export interface ParsedV3 extends Common {
  readonly version: 3;
  readonly schema2Data?: readonly unknown[];
}

/** Version 4: adds manifest lists, and for each listed tag the [digest, schema version] of its amd64 image. */
export interface ParsedV4 extends Common {
  readonly version: 4;
  readonly schema2Data?: readonly unknown[];
  readonly manifestListData?: readonly unknown[];
  readonly manifestListAmd64Tags?: Readonly<Record<string, unknown>>;
}

export type ParsedRedirect = ParsedV1 | ParsedV2 | ParsedV3 | ParsedV4;

/** A file Crane loads: every field its version requires is there. */
export type LoadedRedirect = Required<ParsedV1> | Required<ParsedV2> | Required<ParsedV3> | Required<ParsedV4>;

interface Unreadable {
  readonly problems: readonly RedirectProblem[];
  readonly loaded?: undefined;
  /** The one problem, in the words raas serve logs when it skips the file. */
  readonly skipped: string;
}

export interface InvalidJson extends Unreadable {
  readonly kind: 'invalid-json';
}

export interface NotAnObject extends Unreadable {
  readonly kind: 'not-object';
}

export interface UnsupportedVersion extends Unreadable {
  readonly kind: 'unsupported-version';
  /** As written. */
  readonly version: unknown;
}

interface Readable {
  readonly kind: 'redirect';
  readonly problems: readonly RedirectProblem[];
  readonly redirect: ParsedRedirect;
  /** The JSON object as written. */
  readonly json: Readonly<Record<string, unknown>>;
}

/** A file Crane loads: `loaded` is `redirect`, typed as having every field its version requires. */
export interface LoadedParse extends Readable {
  readonly loaded: LoadedRedirect;
  readonly skipped: undefined;
}

/** A file Crane's loader skips: `skipped` says why, in the words raas serve logs. */
export interface SkippedParse extends Readable {
  readonly loaded: undefined;
  readonly skipped: string;
}

export type RedirectParse = InvalidJson | NotAnObject | UnsupportedVersion | LoadedParse | SkippedParse;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The keys whose absence makes Crane's loader fail, in the order it reads them: the first one wrong is the reason logged. */
const LOAD_ORDER = ['repo-registry-id', 'url', 'repository', 'images', 'tags', 'schema2_data', 'manifest_list_data', 'manifest_list_amd64_tags'];

class Checks {
  readonly problems: RedirectProblem[] = [];
  private readonly skips = new Map<string, string>();

  private readonly data: Json;

  constructor(data: Json) {
    this.data = data;
  }

  report(severity: Severity, message: string, key?: string, entry?: number | string): void {
    this.problems.push({ severity, message, ...(key === undefined ? {} : { key }), ...(entry === undefined ? {} : { entry }) });
  }

  /** A skip about `key`; `reason` defaults to saying the key is missing or malformed. */
  skip(key: string, message: string, reason?: string, entry?: number | string): void {
    this.report('skip', message, key, entry);
    if (!this.skips.has(key)) this.skips.set(key, reason ?? `"${key}" is ${key in this.data ? 'malformed' : 'missing'}`);
  }

  get skipped(): string | undefined {
    const key = LOAD_ORDER.find((k) => this.skips.has(k));
    return key === undefined ? undefined : this.skips.get(key);
  }
}

function readRepository(data: Json, checks: Checks): string | undefined {
  const message = 'repository (the Pulp repository id) is missing: Crane skips the file, so this repository is not served';
  const value = data.repository;
  if (typeof value !== 'string') checks.skip('repository', message);
  else if (value === '') checks.report('error', message, 'repository');
  return typeof value === 'string' ? value : undefined;
}

function readRegistryId(data: Json, version: number, checks: Checks): string | undefined {
  const key = 'repo-registry-id';
  const id = data[key];
  if (typeof id !== 'string') {
    checks.skip(key, 'repo-registry-id is missing or not a string');
    return undefined;
  }
  if (id === '') checks.report('error', 'repo-registry-id is missing or not a string', key);
  if (version === 1 && id.split('/').length > 2) checks.report('error', `repo-registry-id '${id}' has more than one "/": Crane answers 404 for it`, key);
  if (version === 1 && id.startsWith('library/')) {
    checks.report('error', `repo-registry-id '${id}' starts with "library/", which Crane strips from requests: clients can never reach it`, key);
  }
  return id;
}

function readUrl(data: Json, checks: Checks): string | undefined {
  const url = data.url;
  if (typeof url !== 'string') {
    checks.skip('url', 'url is missing or not a string');
    return undefined;
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) checks.report('error', `url '${url}' is not an absolute http(s) URL`, 'url');
  if (!url.endsWith('/')) checks.report('error', `url '${url}' does not end in "/"`, 'url');
  return url;
}

function readProtected(data: Json, checks: Checks): boolean {
  if (data.protected !== undefined && typeof data.protected !== 'boolean') {
    // Python truthiness: Crane would treat "false" as protected.
    checks.report('error', `protected must be true or false, not ${JSON.stringify(data.protected)}`, 'protected');
  } else if (data.protected === true) {
    checks.report('warning', 'protected: Crane serves this repository only to clients presenting an entitlement certificate and answers 404 to others', 'protected');
  }
  return data.protected === true;
}

function readV1(data: Json, common: Common, checks: Checks): ParsedV1 {
  const imageIds: string[] = [];
  let images: RedirectImage[] | undefined;
  if (!Array.isArray(data.images)) {
    checks.skip('images', 'images is missing or not a list (version 1 requires it)');
  } else {
    images = data.images as RedirectImage[];
    for (const [i, image] of data.images.entries()) {
      const id: unknown = isObject(image) ? image.id : undefined;
      // Crane reads image['id'] of every entry: an entry without one makes the file fail to load.
      if (!isObject(image) || !('id' in image)) {
        checks.skip('images', `images[${i}] has no string "id"`, 'an entry of "images" has no "id"', i);
        images = undefined;
      } else if (typeof id !== 'string') checks.report('error', `images[${i}] has no string "id"`, 'images', i);
      else if (!isHex64(id)) checks.report('error', `image id '${id}' is not 64 lowercase hex characters`, 'images', i);
      else if (imageIds.includes(id)) checks.report('warning', `image ${id} is listed twice`, 'images', i);
      else imageIds.push(id);
    }
  }
  const tags = isObject(data.tags) ? data.tags : undefined;
  if (!tags) {
    checks.skip('tags', 'tags is missing or not an object (version 1 requires it)');
  } else {
    for (const [tag, id] of Object.entries(tags)) {
      if (typeof id !== 'string') checks.report('error', `tag '${tag}' does not name an image id`, 'tags', tag);
      else if (!imageIds.includes(id)) checks.report('error', `tag '${tag}' points to ${id}, which is not in images`, 'tags', tag);
    }
  }
  return { ...common, version: 1, imageIds, ...(images ? { images } : {}), ...(tags ? { tags } : {}) };
}

/**
 * A list of tags and digests (schema2_data, manifest_list_data). Crane needs a list to
 * load the file; entries that are not strings are errors, and strings that are neither a
 * tag nor a digest are warnings: no request can name them, so Crane never matches them.
 */
function readRefs(data: Json, key: string, version: number, checks: Checks): unknown[] | undefined {
  const value = data[key];
  const message = `${key} must be a list of tags and digests (version ${version} requires it)`;
  if (!Array.isArray(value)) {
    checks.skip(key, message);
    return undefined;
  }
  if (!isStringArray(value)) {
    checks.report('error', message, key);
    return value;
  }
  const bad = value.filter((ref) => !isSchema2Ref(ref));
  if (bad.length > 0) {
    checks.report('warning', `${key} lists ${bad.map((b) => `'${b}'`).join(', ')}, neither a tag nor a sha256 digest: no request can match ${bad.length === 1 ? 'it' : 'them'}`, key);
  }
  return value;
}

function readAmd64Tags(data: Json, checks: Checks): Json | undefined {
  const key = 'manifest_list_amd64_tags';
  const value = data[key];
  const message = 'manifest_list_amd64_tags must map tags to [digest, schema version] (version 4 requires it)';
  if (!isObject(value)) {
    checks.skip(key, message);
    return undefined;
  }
  const pairs = Object.values(value).every((v) => Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number');
  if (!pairs) {
    checks.report('error', message, key);
    return value;
  }
  // Crane redirects to manifests/<schema version>/<digest>: Pulp's layout has only 1 and 2.
  for (const [tag, [digest, schema]] of Object.entries(value as Record<string, [string, number]>)) {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest) || (schema !== 1 && schema !== 2)) {
      checks.report('error', `manifest_list_amd64_tags gives tag '${tag}' [${JSON.stringify(digest)}, ${schema}]: Crane would redirect to manifests/${schema}/${digest}, which Pulp's layout cannot hold`, key, tag);
    }
  }
  return value;
}

function readVersioned(data: Json, version: 1 | 2 | 3 | 4, checks: Checks): ParsedRedirect {
  if (data.type !== REDIRECT_TYPE) checks.report('warning', `type is ${JSON.stringify(data.type)}, not "${REDIRECT_TYPE}"`, 'type');
  const repository = readRepository(data, checks);
  const registryId = readRegistryId(data, version, checks);
  const url = readUrl(data, checks);
  const common: Common = {
    ...(repository === undefined ? {} : { repository }),
    ...(registryId === undefined ? {} : { registryId }),
    ...(url === undefined ? {} : { url }),
    protected: readProtected(data, checks),
  };
  if (version === 1) return readV1(data, common, checks);
  if (version === 2) return { ...common, version };
  const schema2Data = readRefs(data, 'schema2_data', version, checks);
  const withSchema2 = { ...common, ...(schema2Data ? { schema2Data } : {}) };
  if (version === 3) return { ...withSchema2, version };
  const manifestListData = readRefs(data, 'manifest_list_data', version, checks);
  const manifestListAmd64Tags = readAmd64Tags(data, checks);
  return {
    ...withSchema2,
    version,
    ...(manifestListData ? { manifestListData } : {}),
    ...(manifestListAmd64Tags ? { manifestListAmd64Tags } : {}),
  };
}

const unreadable = (message: string, key?: string): Unreadable => ({
  skipped: message,
  problems: [{ severity: 'skip', message, ...(key === undefined ? {} : { key }) }],
});

/**
 * A redirect file's text, read and checked. Nothing in it is walked recursively, so a
 * deeply nested file costs no more than JSON.parse does.
 */
export function parseRedirect(text: string): RedirectParse {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { kind: 'invalid-json', ...unreadable(`not valid JSON: ${(error as Error).message}`) };
  }
  if (!isObject(data)) return { kind: 'not-object', ...unreadable('not a JSON object') };
  const version = data.version;
  if (version !== 1 && version !== 2 && version !== 3 && version !== 4) {
    return { kind: 'unsupported-version', version, ...unreadable(`version ${JSON.stringify(version)} is not supported: Crane reads versions 1 to 4`, 'version') };
  }
  const checks = new Checks(data);
  const redirect = readVersioned(data, version, checks);
  const skipped = checks.skipped;
  const readable = { kind: 'redirect', redirect, json: data, problems: checks.problems } as const;
  // Without a skip, every key Crane's loader reads was there with its type (see LOAD_ORDER).
  return skipped === undefined ? { ...readable, loaded: redirect as LoadedRedirect, skipped } : { ...readable, loaded: undefined, skipped };
}
