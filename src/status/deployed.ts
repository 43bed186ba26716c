import { rm } from 'node:fs/promises';
import { flatImageName } from '../config/names.ts';
import { CRANE_CONFIG_FILE } from '../crane/config-file.ts';
import { readDataDir, type DataFile } from '../crane/datadir.ts';
import { parseRedirect } from '../crane/parse.ts';
import { isSchema2Ref } from '../crane/redirect.ts';
import { shallowClone } from '../platform/gitrepo.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';
import { v2MetadataName } from '../layout/crane-v2/keys.ts';

/** What the Crane app repository holds for Crane: the metadata files, and Crane's configuration. */
export interface DeployedApp {
  readonly files: readonly DataFile[];
  readonly craneConfig: string | undefined;
  /** The commit read; undefined for a repository without one. */
  readonly commit: string | undefined;
}

const WHAT = 'Crane app repository';

export async function readAppRepository(remote: string, dataDir: string, workDir: string, signal: AbortSignal): Promise<DeployedApp> {
  const clone = await shallowClone(remote, { parentDir: workDir, what: WHAT, signal });
  try {
    const [files, craneConfig, commit] = await Promise.all([
      readDataDir(clone.dir, dataDir, WHAT),
      new WorktreeFiles(clone.dir, WHAT).read(CRANE_CONFIG_FILE, { maxBytes: 1024 * 1024 }),
      clone.git.raw(['rev-parse', '-q', '--verify', 'HEAD']).then((out) => out.trim() || undefined, () => undefined),
    ]);
    return { files, craneConfig, commit };
  } finally {
    await rm(clone.dir, { recursive: true, force: true });
  }
}

/** One of the ISV's images as its deployed redirect file describes it. */
export interface PublishedImage {
  /** The name clients pull (repo-registry-id). */
  readonly name: string;
  readonly flat: string;
  /** The v1 file's name in the data directory. */
  readonly file: string;
  /** The image's deployed files (the v1 file, and the v2 file when there is one), which the configuration repository backs up. */
  readonly files: readonly DataFile[];
  readonly url: string;
  readonly ids: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
  /** The image's v2 redirect file (`<isv>-<image>@v2.json`), when it has one. */
  readonly v2: PublishedV2 | undefined;
}

/** What an image's version 3 redirect file publishes for Docker v2 clients. */
export interface PublishedV2 {
  /** The file's name in the data directory. */
  readonly file: string;
  /** Why raas cannot check the v2 side by this file, or undefined. */
  readonly problem: string | undefined;
  /** schema2_data: tags and manifest digests with a schema 2 (or OCI) manifest under `url`. */
  readonly tags: readonly string[];
  readonly digests: readonly string[];
  /** manifest_list_data (version 4): tags and digests of manifest lists (or OCI indexes) under `url`. */
  readonly lists: { readonly tags: readonly string[]; readonly digests: readonly string[] };
}

/** The file's image, when it is a version 1 file that push could have written (lint says what is wrong with others). */
function parseImage(file: DataFile): PublishedImage | undefined {
  const parsed = parseRedirect(file.text);
  if (parsed.kind !== 'redirect' || parsed.redirect.version !== 1) return undefined;
  const { registryId: name, url, imageIds, tags = {} } = parsed.redirect;
  if (name === undefined || url === undefined) return undefined;
  const tagged = Object.fromEntries(Object.entries(tags).filter((e): e is [string, string] => typeof e[1] === 'string'));
  return { name, flat: flatImageName(name), file: file.name, files: [file], url, ids: imageIds, tags: tagged, v2: undefined };
}

const UNREADABLE = { 'invalid-json': 'is not valid JSON (see lint)', 'not-object': 'is not a JSON object (see lint)' } as const;

/** The v2 file as push writes it: version 3, for the same image; otherwise the problem. */
function parseV2(file: DataFile, name: string): PublishedV2 {
  const unusable = (problem: string): PublishedV2 => ({ file: file.name, problem, tags: [], digests: [], lists: { tags: [], digests: [] } });
  const parsed = parseRedirect(file.text);
  if (parsed.kind === 'invalid-json' || parsed.kind === 'not-object') return unusable(UNREADABLE[parsed.kind]);
  const version = parsed.kind === 'unsupported-version' ? parsed.version : parsed.redirect.version;
  if (parsed.kind !== 'redirect' || (parsed.redirect.version !== 3 && parsed.redirect.version !== 4)) return unusable(`is version ${JSON.stringify(version)}, not the version 3 or 4 raas publishes`);
  const redirect = parsed.redirect;
  if (redirect.registryId === undefined || redirect.url === undefined) return unusable('has no repo-registry-id or url (see lint)');
  if (redirect.registryId !== name) return unusable(`names repo-registry-id '${redirect.registryId}', not '${name}': Docker v2 clients cannot pull ${name}`);
  const refs = redirect.schema2Data;
  if (refs === undefined || !refs.every((r): r is string => typeof r === 'string')) return unusable('has no list of tags and digests in schema2_data (see lint)');
  const usable = refs.filter(isSchema2Ref);
  const listed = redirect.version === 4 ? (redirect.manifestListData ?? []).filter((r): r is string => typeof r === 'string' && isSchema2Ref(r)) : [];
  return {
    file: file.name, problem: undefined,
    tags: usable.filter((r) => !r.includes(':')), digests: usable.filter((r) => r.includes(':')),
    lists: { tags: listed.filter((r) => !r.includes(':')), digests: listed.filter((r) => r.includes(':')) },
  };
}

/** The files push wrote for the ISV: `<isv>-<image with / as ->.json` naming their own image, with their v2 files. */
export function publishedImages(isv: string, files: readonly DataFile[]): PublishedImage[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  return files
    .filter((f) => f.name.startsWith(`${isv}-`))
    .map(parseImage)
    .filter((image): image is PublishedImage => image !== undefined && image.file === `${isv}-${image.flat}.json`)
    .map((image) => {
      const v2 = byName.get(v2MetadataName(isv, image.flat));
      return v2 ? { ...image, files: [...image.files, v2], v2: parseV2(v2, image.name) } : image;
    });
}
