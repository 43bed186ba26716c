import { readDataDir } from '../crane/datadir.ts';
import { InputError } from '../errors.ts';

/**
 * The redirect files of a data directory, loaded the way Crane's loader (crane/data.py)
 * loads them: versions 1-4 are accepted, version 1 files are the v1 API's repositories,
 * and the others its v2 API's. Where Crane logs "aborting metadata load" and serves
 * nothing, this throws, naming the file.
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
  /** Tags and digests with a schema 2 manifest (versions 3 and 4); undefined for version 2. */
  readonly schema2: readonly unknown[] | undefined;
  /** Version 4: tags and digests of manifest lists, and tag -> [digest, schema version] of their amd64 image. */
  readonly manifestLists: readonly unknown[];
  readonly amd64Tags: Readonly<Record<string, unknown>>;
}

export interface CraneData {
  /** By repo-registry-id; a later file (in name order) replaces an earlier one, as in Crane. */
  readonly v1: ReadonlyMap<string, V1Repo>;
  /** Image id -> ids of the v1 repositories listing it, in file name order. */
  readonly images: ReadonlyMap<string, readonly string[]>;
  /** By repo-registry-id, in a table of their own: a name can have a v1 and a v2 repository. */
  readonly v2: ReadonlyMap<string, V2Repo>;
}

type Json = Record<string, unknown>;

function field<T>(data: Json, key: string, ok: (v: unknown) => v is T, file: string): T {
  const value = data[key];
  if (!ok(value)) throw new InputError(`Crane cannot load this file: "${key}" is missing or malformed`, { where: file });
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isVersion = (v: unknown): v is number => v === 1 || v === 2 || v === 3 || v === 4;

export async function loadCraneData(dataDir: string): Promise<CraneData> {
  const v1 = new Map<string, V1Repo>();
  const v2 = new Map<string, V2Repo>();
  for (const { name, text } of await readDataDir(dataDir)) {
    const file = `${dataDir}/${name}`;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new InputError(`Crane cannot load this file: ${(error as Error).message}`, { where: file });
    }
    if (!isObject(data)) throw new InputError('Crane cannot load this file: not a JSON object', { where: file });
    const version = field(data, 'version', isVersion, file);
    const id = field(data, 'repo-registry-id', isString, file);
    const url = field(data, 'url', isString, file);
    if (version > 1) {
      v2.set(id, {
        file, url, protected: Boolean(data.protected),
        schema2: version > 2 ? field(data, 'schema2_data', isArray, file) : undefined,
        manifestLists: version > 3 ? field(data, 'manifest_list_data', isArray, file) : [],
        amd64Tags: version > 3 ? field(data, 'manifest_list_amd64_tags', isObject, file) : {},
      });
      continue;
    }
    const images = field(data, 'images', isArray, file);
    if (!images.every((i) => isObject(i) && 'id' in i)) throw new InputError('Crane cannot load this file: an image has no "id"', { where: file });
    const tags = field(data, 'tags', isObject, file);
    v1.set(id, { file, url, protected: Boolean(data.protected), images, tags });
  }
  const images = new Map<string, string[]>();
  for (const [id, repo] of v1) {
    for (const image of repo.images as Json[]) {
      const list = images.get(String(image.id)) ?? [];
      images.set(String(image.id), [...list, id]);
    }
  }
  return { v1, images, v2 };
}
