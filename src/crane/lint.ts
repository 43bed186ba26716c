import { isHex64 } from '../image/model.ts';
import { isSchema2Ref, REDIRECT_TYPE } from './redirect.ts';

/**
 * Checks of deployed redirect files against what Crane's loader needs (crane/data.py) and
 * what its views do with the values (crane/views/v1.py, crane/app_util.py). Crane 3.3
 * (and raas serve) skips a file it cannot load (bad JSON, an unsupported version, a
 * missing key) with a logged error and serves the others: such a file's problem is an
 * error of that file (its repository is not served), not of the registry.
 */
export interface LintProblem {
  readonly file: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

export interface MetadataText {
  readonly path: string;
  readonly text: string;
}

type Json = Record<string, unknown>;
type Report = (severity: LintProblem['severity'], message: string) => void;

interface Loaded {
  readonly path: string;
  /** Crane keeps v1 repositories and v2 (versions 2-4) repositories in separate tables. */
  readonly family: 'v1' | 'v2';
  readonly registryId: string | undefined;
  readonly url: string | undefined;
  readonly imageIds: readonly string[];
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');

function lintUrl(url: unknown, report: Report): string | undefined {
  if (typeof url !== 'string') {
    report('error', 'url is missing or not a string');
    return undefined;
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) report('error', `url '${url}' is not an absolute http(s) URL`);
  if (!url.endsWith('/')) report('error', `url '${url}' does not end in "/"`);
  return url;
}

function lintRegistryId(id: unknown, version: number, report: Report): string | undefined {
  if (typeof id !== 'string' || id === '') {
    report('error', 'repo-registry-id is missing or not a string');
    return undefined;
  }
  if (version === 1 && id.split('/').length > 2) report('error', `repo-registry-id '${id}' has more than one "/": Crane answers 404 for it`);
  if (version === 1 && id.startsWith('library/')) {
    report('error', `repo-registry-id '${id}' starts with "library/", which Crane strips from requests: clients can never reach it`);
  }
  return id;
}

function lintV1(data: Json, report: Report): string[] {
  const ids: string[] = [];
  if (!Array.isArray(data.images)) {
    report('error', 'images is missing or not a list (version 1 requires it)');
  } else {
    for (const [i, image] of data.images.entries()) {
      const id = isObject(image) ? image.id : undefined;
      if (typeof id !== 'string') report('error', `images[${i}] has no string "id"`);
      else if (!isHex64(id)) report('error', `image id '${id}' is not 64 lowercase hex characters`);
      else if (ids.includes(id)) report('warning', `image ${id} is listed twice`);
      else ids.push(id);
    }
  }
  if (!isObject(data.tags)) {
    report('error', 'tags is missing or not an object (version 1 requires it)');
  } else {
    for (const [tag, id] of Object.entries(data.tags)) {
      if (typeof id !== 'string') report('error', `tag '${tag}' does not name an image id`);
      else if (!ids.includes(id)) report('error', `tag '${tag}' points to ${id}, which is not in images`);
    }
  }
  return ids;
}

/** Entries of a list of tags and digests that are neither: no client request can name them, so Crane never matches them. */
function lintRefs(list: readonly string[], field: string, report: Report): void {
  const bad = list.filter((ref) => !isSchema2Ref(ref));
  if (bad.length > 0) report('warning', `${field} lists ${bad.map((b) => `'${b}'`).join(', ')}, neither a tag nor a sha256 digest: no request can match ${bad.length === 1 ? 'it' : 'them'}`);
}

function lintV2Extras(data: Json, version: number, report: Report): void {
  if (version >= 3) {
    if (!isStringArray(data.schema2_data)) report('error', `schema2_data must be a list of tags and digests (version ${version} requires it)`);
    else lintRefs(data.schema2_data as string[], 'schema2_data', report);
  }
  if (version < 4) return;
  if (!isStringArray(data.manifest_list_data)) report('error', 'manifest_list_data must be a list of tags and digests (version 4 requires it)');
  else lintRefs(data.manifest_list_data as string[], 'manifest_list_data', report);
  const amd64 = data.manifest_list_amd64_tags;
  const pairs = isObject(amd64) && Object.values(amd64).every((v) => Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number');
  if (!pairs) {
    report('error', 'manifest_list_amd64_tags must map tags to [digest, schema version] (version 4 requires it)');
    return;
  }
  // Crane redirects to manifests/<schema version>/<digest>: Pulp's layout has only 1 and 2.
  for (const [tag, [digest, schema]] of Object.entries(amd64 as Record<string, [string, number]>)) {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest) || (schema !== 1 && schema !== 2)) {
      report('error', `manifest_list_amd64_tags gives tag '${tag}' [${JSON.stringify(digest)}, ${schema}]: Crane would redirect to manifests/${schema}/${digest}, which Pulp's layout cannot hold`);
    }
  }
}

function lintFile(file: MetadataText, report: Report): Loaded | undefined {
  if (!file.path.endsWith('.json')) report('warning', 'Crane reads only *.json files: this one is ignored');
  let data: unknown;
  try {
    data = JSON.parse(file.text);
  } catch (error) {
    report('error', `not valid JSON: ${(error as Error).message}`);
    return undefined;
  }
  if (!isObject(data)) {
    report('error', 'not a JSON object');
    return undefined;
  }
  const version = data.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 4) {
    report('error', `version ${JSON.stringify(version)} is not supported: Crane reads versions 1 to 4`);
    return undefined;
  }
  if (data.type !== REDIRECT_TYPE) report('warning', `type is ${JSON.stringify(data.type)}, not "${REDIRECT_TYPE}"`);
  if (typeof data.repository !== 'string' || data.repository === '') report('error', 'repository (the Pulp repository id) is missing: Crane skips the file, so this repository is not served');
  const registryId = lintRegistryId(data['repo-registry-id'], version, report);
  const url = lintUrl(data.url, report);
  if (data.protected !== undefined && typeof data.protected !== 'boolean') {
    // Python truthiness: Crane would treat "false" as protected.
    report('error', `protected must be true or false, not ${JSON.stringify(data.protected)}`);
  } else if (data.protected === true) {
    report('warning', 'protected: Crane serves this repository only to clients presenting an entitlement certificate and answers 404 to others');
  }
  const imageIds = version === 1 ? lintV1(data, report) : [];
  if (version > 1) lintV2Extras(data, version, report);
  return { path: file.path, family: version === 1 ? 'v1' : 'v2', registryId, url, imageIds };
}

function lintAcross(loaded: readonly Loaded[], problems: LintProblem[]): void {
  const claimed = new Map<string, string>();
  for (const file of loaded) {
    if (file.registryId === undefined) continue;
    const key = `${file.family} ${file.registryId}`;
    const other = claimed.get(key);
    if (other === undefined) claimed.set(key, file.path);
    else problems.push({ file: file.path, severity: 'error', message: `repo-registry-id '${file.registryId}' is also claimed by ${other}: Crane serves only one of them` });
  }
  // Crane redirects an image to any one of the repositories listing it, chosen arbitrarily.
  const listedBy = new Map<string, Loaded>();
  for (const file of loaded) {
    const clashes = new Map<string, number>();
    for (const id of file.imageIds) {
      const other = listedBy.get(id);
      if (other === undefined) listedBy.set(id, file);
      else if (other.url !== file.url) clashes.set(other.path, (clashes.get(other.path) ?? 0) + 1);
    }
    for (const [other, count] of clashes) {
      problems.push({
        file: file.path,
        severity: 'warning',
        message: `${count} image(s) are also listed by ${other} under another url: Crane redirects each to either url, so both must serve them`,
      });
    }
  }
}

export function lintRedirectFiles(files: readonly MetadataText[]): LintProblem[] {
  const problems: LintProblem[] = [];
  const loaded: Loaded[] = [];
  for (const file of files) {
    const parsed = lintFile(file, (severity, message) => problems.push({ file: file.path, severity, message }));
    if (parsed) loaded.push(parsed);
  }
  lintAcross(loaded, problems);
  return problems;
}
