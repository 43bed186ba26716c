import type { DataFile } from '../crane/datadir.ts';

/**
 * The redirect files of a data directory, loaded as Crane 3.3's loader (crane/data.py)
 * loads them: versions 1-4; version 1 files are the v1 API's repositories and the others
 * its v2 API's, in separate tables. A file Crane cannot load (bad JSON, an unsupported
 * version, a missing `repository`, `repo-registry-id`, `url` or version-specific key) is
 * skipped with a reason while every other file is served, as Crane logs "skipping current
 * metadata load" and goes on.
 */
export interface V1Repo {
  readonly file: string;
  readonly url: string;
  readonly protected: boolean;
  /** Served verbatim, as Crane does. */
  readonly images: readonly unknown[];
  readonly tags: Readonly<Record<string, unknown>>;
}

/** A version 2-4 file: Crane's v2 API redirects into Pulp's v2 web layout under `url`. */
export interface V2Repo {
  readonly file: string;
  readonly url: string;
  readonly protected: boolean;
  readonly version: 2 | 3 | 4;
  /** Tags and digests with a schema 2 manifest (versions 3 and 4); undefined for version 2. */
  readonly schema2: readonly unknown[] | undefined;
  /** Version 4: tags and digests of manifest lists, and tag -> [digest, schema version] of their amd64 image. */
  readonly manifestLists: readonly unknown[];
  readonly amd64Tags: Readonly<Record<string, unknown>>;
}

export interface CraneData {
  /** By repo-registry-id; a later file (in name order) replaces an earlier one. */
  readonly v1: ReadonlyMap<string, V1Repo>;
  /** Image id -> ids of the v1 repositories listing it, in file name order. */
  readonly images: ReadonlyMap<string, readonly string[]>;
  readonly v2: ReadonlyMap<string, V2Repo>;
}

export interface SkippedFile {
  readonly file: string;
  readonly reason: string;
}

type Json = Record<string, unknown>;

const isString = (v: unknown): v is string => typeof v === 'string';
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isVersion = (v: unknown): v is 1 | 2 | 3 | 4 => v === 1 || v === 2 || v === 3 || v === 4;

class Skip extends Error {}

function field<T>(data: Json, key: string, ok: (v: unknown) => v is T): T {
  const value = data[key];
  if (!ok(value)) throw new Skip(`"${key}" is ${key in data ? 'malformed' : 'missing'}`);
  return value;
}

function loadFile(text: string): { id: string; v1?: Omit<V1Repo, 'file'>; v2?: Omit<V2Repo, 'file'> } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Skip(`not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(data)) throw new Skip('not a JSON object');
  const version = data.version;
  if (!isVersion(version)) throw new Skip(`version ${JSON.stringify(version)} is not supported (Crane reads 1 to 4)`);
  const id = field(data, 'repo-registry-id', isString);
  const url = field(data, 'url', isString);
  // Crane reads the Pulp repository id of every file and skips the file without it.
  field(data, 'repository', isString);
  const common = { url, protected: data.protected === true };
  if (version === 1) {
    const images = field(data, 'images', isArray);
    if (!images.every((i) => isObject(i) && 'id' in i)) throw new Skip('an entry of "images" has no "id"');
    return { id, v1: { ...common, images, tags: field(data, 'tags', isObject) } };
  }
  return {
    id,
    v2: {
      ...common,
      version,
      schema2: version > 2 ? field(data, 'schema2_data', isArray) : undefined,
      manifestLists: version > 3 ? field(data, 'manifest_list_data', isArray) : [],
      amd64Tags: version > 3 ? field(data, 'manifest_list_amd64_tags', isObject) : {},
    },
  };
}

/** `files` as readDataDir lists them (sorted by name); `where` prefixes their names in the skip reasons. */
export function loadCraneData(files: readonly DataFile[], where = ''): { data: CraneData; skipped: SkippedFile[] } {
  const v1 = new Map<string, V1Repo>();
  const v2 = new Map<string, V2Repo>();
  const skipped: SkippedFile[] = [];
  for (const { name, text } of files) {
    const file = `${where}${name}`;
    try {
      const loaded = loadFile(text);
      if (loaded.v1) v1.set(loaded.id, { file, ...loaded.v1 });
      if (loaded.v2) v2.set(loaded.id, { file, ...loaded.v2 });
    } catch (error) {
      if (!(error instanceof Skip)) throw error;
      skipped.push({ file, reason: error.message });
    }
  }
  const images = new Map<string, string[]>();
  for (const [id, repo] of v1) {
    for (const image of repo.images as Json[]) images.set(String(image.id), [...(images.get(String(image.id)) ?? []), id]);
  }
  return { data: { v1, images, v2 }, skipped };
}

/** Repositories a snapshot serves (v1 and v2 tables together). */
export const repositoryCount = (data: CraneData): number => data.v1.size + data.v2.size;
