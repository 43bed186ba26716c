import type { DataFile } from '../crane/datadir.ts';
import { parseRedirect, type LoadedRedirect, type RedirectImage } from '../crane/parse.ts';

/**
 * The redirect files of a data directory, loaded as Crane 3.3's loader (crane/data.py)
 * loads them, through the one parser (crane/parse.ts): version 1 files are the v1 API's
 * repositories and the others its v2 API's, in separate tables. A file Crane cannot load
 * (bad JSON, an unsupported version, a missing `repository`, `repo-registry-id`, `url` or
 * version-specific key) is skipped with a reason while every other file is served, as
 * Crane logs "skipping current metadata load" and goes on.
 */
export interface V1Repo {
  readonly file: string;
  readonly url: string;
  readonly protected: boolean;
  /** Served verbatim, as Crane does. */
  readonly images: readonly RedirectImage[];
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

function loadFile(redirect: LoadedRedirect): { v1?: Omit<V1Repo, 'file'>; v2?: Omit<V2Repo, 'file'> } {
  const common = { url: redirect.url, protected: redirect.protected };
  switch (redirect.version) {
    case 1:
      return { v1: { ...common, images: redirect.images, tags: redirect.tags } };
    case 2:
      return { v2: { ...common, version: 2, schema2: undefined, manifestLists: [], amd64Tags: {} } };
    case 3:
      return { v2: { ...common, version: 3, schema2: redirect.schema2Data, manifestLists: [], amd64Tags: {} } };
    case 4:
      return { v2: { ...common, version: 4, schema2: redirect.schema2Data, manifestLists: redirect.manifestListData, amd64Tags: redirect.manifestListAmd64Tags } };
  }
}

/** `files` as readDataDir lists them (sorted by name); `where` prefixes their names in the skip reasons. */
export function loadCraneData(files: readonly DataFile[], where = ''): { data: CraneData; skipped: SkippedFile[] } {
  const v1 = new Map<string, V1Repo>();
  const v2 = new Map<string, V2Repo>();
  const skipped: SkippedFile[] = [];
  for (const { name, text } of files) {
    const file = `${where}${name}`;
    const parsed = parseRedirect(text);
    if (parsed.loaded === undefined) {
      skipped.push({ file, reason: parsed.skipped });
      continue;
    }
    const loaded = loadFile(parsed.loaded);
    if (loaded.v1) v1.set(parsed.loaded.registryId, { file, ...loaded.v1 });
    if (loaded.v2) v2.set(parsed.loaded.registryId, { file, ...loaded.v2 });
  }
  const images = new Map<string, string[]>();
  for (const [id, repo] of v1) {
    for (const image of repo.images) images.set(String(image.id), [...(images.get(String(image.id)) ?? []), id]);
  }
  return { data: { v1, images, v2 }, skipped };
}

/** Repositories a snapshot serves (v1 and v2 tables together). */
export const repositoryCount = (data: CraneData): number => data.v1.size + data.v2.size;
