import { rm } from 'node:fs/promises';
import { repoPathRule } from '../config/names.ts';
import { ConfigError, InputError, OperationError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';
import {
  assertPlainName, assertStaged, gitFailure, gitIn, headCommit, pushHead, retryWhileRemoteMoves, shallowClone, stagedPaths, writeNamedFiles,
  type Clone, type NamedText,
} from '../platform/gitrepo.ts';
import { readDataDir, type DataFile } from './datadir.ts';

/** Where the Crane app repository keeps the redirect files Crane loads. */
export const DEFAULT_DATA_DIR = 'crane/data';

const WHAT = 'Crane app repository';

/** The files to deploy, or how to compute them from what is deployed now (by name). */
export type MetadataPlan = readonly NamedText[] | ((deployed: ReadonlyMap<string, string>) => readonly NamedText[]);

export interface DeployOptions {
  readonly remote: string;
  /** Default: the remote's default branch. */
  readonly branch?: string;
  /** Scratch space; the clone made under it is removed afterwards. */
  readonly workDir: string;
  readonly dataDir?: string;
  /** A function is called again on the new state whenever the remote moved before the push landed. */
  readonly files: MetadataPlan;
  readonly message: string;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** Further attempts when the push loses a race with another deployment. Default 10. */
  readonly retries?: number;
}

export interface DeployResult {
  readonly changed: boolean;
  /** The commit the branch is at afterwards. */
  readonly commit: string;
  /** Every metadata file in the data directory afterwards, by name. */
  readonly files: ReadonlyMap<string, string>;
  /** The branch deployed to. */
  readonly branch: string;
}

function checkDataDir(dataDir: string): string {
  const broken = repoPathRule(dataDir);
  if (broken) throw new ConfigError(`'${dataDir}' is not valid: ${broken}`, { where: 'crane_data_dir' });
  return dataDir;
}

/** The repo-registry-id a redirect file names, when it is a JSON object naming one. */
export function registryIdOf(text: string): string | undefined {
  try {
    const data: unknown = JSON.parse(text);
    const id = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)['repo-registry-id'] : undefined;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A deployed file is replaced only by one for the same repository: whatever computed the
 * new text, a push never rewrites the file through which Crane serves another image.
 */
function checkReplacements(dataDir: string, deployed: ReadonlyMap<string, string>, files: readonly NamedText[]): void {
  for (const { name, text } of files) {
    const before = deployed.get(name);
    const was = before === undefined ? undefined : registryIdOf(before);
    const will = registryIdOf(text);
    if (was !== undefined && will !== undefined && was !== will) {
      throw new InputError(`${dataDir}/${name} publishes '${was}'; raas will not replace it with a file for '${will}'`, {
        where: `${WHAT} ${dataDir}/${name}`,
        fix: `'${will}' would take the place of '${was}': publish it under a name whose file and storage prefix are its own`,
      });
    }
  }
}

function checkFiles(files: readonly NamedText[]): void {
  const seen = new Set<string>();
  for (const { name } of files) {
    assertPlainName(name, 'Crane metadata file name');
    if (!name.endsWith('.json')) throw new InputError(`'${name}' does not end in .json, so Crane would not load it`, { where: 'Crane metadata file name' });
    if (seen.has(name)) throw new InputError(`'${name}' is to be deployed twice`, { where: 'Crane metadata file name' });
    seen.add(name);
  }
}

/**
 * What deployMetadata refuses about the files it is to write over `deployed` (names that
 * are no plain *.json names, a name twice, a file of another repository replaced), for a
 * caller that must know before it writes anything else.
 */
export function checkMetadataPlan(dataDir: string, deployed: ReadonlyMap<string, string>, files: readonly NamedText[]): void {
  checkFiles(files);
  checkReplacements(dataDir, deployed, files);
}

async function stage(clone: Clone, paths: readonly string[]): Promise<void> {
  try {
    await clone.git.raw(['add', '--force', '--', ...paths]);
  } catch (error) {
    throw new OperationError(`git cannot stage ${paths.join(', ')}: ${scrub((error as Error).message).trim()}`, {
      where: WHAT,
      fix: `check what in the ${WHAT} applies to those paths (.gitattributes, a link on the way)`,
    });
  }
}

/** Our clone is private, so catching up is simply taking the remote's state. */
async function catchUp(clone: Clone, remote: string): Promise<void> {
  try {
    await clone.git.fetch('origin', clone.branch);
    await clone.git.reset(['--hard', 'FETCH_HEAD']);
  } catch (error) {
    throw gitFailure('cannot fetch', remote, error);
  }
}

/**
 * Writes the redirect files into the data directory of the Crane app repository and
 * pushes one commit with them, or nothing when they are already deployed as given. The
 * push is never forced, so the remote gets all of the files or none; when another
 * deployment landed first, the files are written again on top of it and pushed again.
 */
export async function deployMetadata(options: DeployOptions): Promise<DeployResult> {
  const dataDir = checkDataDir(options.dataDir ?? DEFAULT_DATA_DIR);
  const plan = options.files;
  if (typeof plan !== 'function') checkFiles(plan);
  const { logger, signal } = options;
  const clone = await shallowClone(options.remote, { parentDir: options.workDir, branch: options.branch, what: WHAT, signal });
  try {
    return await retryWhileRemoteMoves(
      async (attempt) => {
        if (attempt > 1) await catchUp(clone, options.remote);
        const deployed = new Map((await readDataDir(clone.dir, dataDir, WHAT)).map((f) => [f.name, f.text]));
        const files = typeof plan === 'function' ? plan(deployed) : plan;
        checkMetadataPlan(dataDir, deployed, files);
        const after = new Map([...deployed, ...files.map((f) => [f.name, f.text] as const)]);
        const paths = await writeNamedFiles(clone.dir, dataDir, files, WHAT);
        if (paths.length > 0) await stage(clone, paths);
        await assertStaged(clone.git, files.map((f, i) => ({ path: paths[i]!, text: f.text })), WHAT);
        if ((await stagedPaths(clone.git)).length === 0) {
          logger.debug(`${dataDir} in the ${WHAT} already holds ${files.map((f) => f.name).join(', ') || 'nothing new'}`);
          return { changed: false, commit: await headCommit(clone.git), files: after, branch: clone.branch };
        }
        await clone.git.commit(options.message);
        await pushHead(clone.git, 'origin', `refs/heads/${clone.branch}`, options.remote);
        const commit = await headCommit(clone.git);
        logger.debug({ commit, files: paths }, `pushed ${commit.slice(0, 12)} to the ${WHAT}`);
        return { changed: true, commit, files: after, branch: clone.branch };
      },
      { what: `the ${WHAT}`, logger, retries: options.retries, signal },
    );
  } finally {
    await rm(clone.dir, { recursive: true, force: true });
  }
}

/**
 * Fail before anything is uploaded when the Crane app repository cannot be reached or
 * read: `git ls-remote` asks the server, with the user's credentials, and changes nothing.
 * Returns whether the repository has a branch yet (raas setup fills an empty one).
 */
export async function checkAppRemote(remote: string, signal?: AbortSignal): Promise<boolean> {
  try {
    return (await gitIn(process.cwd(), { signal }).listRemote(['--heads', remote])).trim() !== '';
  } catch (error) {
    throw gitFailure(`cannot reach the ${WHAT}`, remote, error);
  }
}

/**
 * The metadata files the Crane app serves now, by name: those `deployed` left while the
 * branch is still at its commit (one `git ls-remote`), else read again, because another
 * run deployed since. Backups take their metadata from here, so that the last backup to
 * land holds what was deployed last, whichever order concurrent runs finish in.
 */
export async function deployedNow(
  remote: string,
  deployed: DeployResult,
  options: { readonly dataDir: string; readonly workDir: string; readonly signal?: AbortSignal },
): Promise<ReadonlyMap<string, string>> {
  let head: string | undefined;
  try {
    head = (await gitIn(process.cwd(), { signal: options.signal }).listRemote([remote, `refs/heads/${deployed.branch}`])).split(/\s/)[0];
  } catch (error) {
    throw gitFailure(`cannot reach the ${WHAT}`, remote, error);
  }
  if (head === deployed.commit) return deployed.files;
  const files = await readDeployedMetadata(remote, options.dataDir, options.workDir, { branch: deployed.branch, signal: options.signal });
  return new Map(files.map((f) => [f.name, f.text]));
}

/** The metadata files Crane loads from the app repository's data directory, sorted by name. */
export async function readDeployedMetadata(
  remote: string,
  dataDir: string,
  workDir: string,
  options: { readonly branch?: string; readonly signal?: AbortSignal } = {},
): Promise<DataFile[]> {
  const clone = await shallowClone(remote, { parentDir: workDir, branch: options.branch, what: WHAT, signal: options.signal });
  try {
    return await readDataDir(clone.dir, checkDataDir(dataDir), WHAT);
  } finally {
    await rm(clone.dir, { recursive: true, force: true });
  }
}
