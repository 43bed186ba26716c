import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SimpleGit } from 'simple-git';
import { ConfigError, OperationError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';
import { processAlive } from '../process-alive.ts';
import {
  assertPlainName, gitFailure, gitIn, headCommit, openGit, pushHead, retryWhileRemoteMoves, shallowClone, writeNamedFiles,
  type NamedText,
} from '../platform/gitrepo.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';

/**
 * The private configuration repository (RAAS_CONF_REPO): raas.cfg, and per ISV a backup
 * of the deployed metadata (`<isv>/metadata/`) and the logs of every run
 * (`<isv>/logs/YYYY-MM-DD.log`). Operators run raas concurrently, so pushes catch up with
 * the remote: log files merge as a union (both sides' appended lines are kept), and a
 * metadata file takes the remote's version during the rebase and is then written again
 * as the Crane app serves it at that moment (see BackupRequest.metadata). The merge rules
 * live in an attributes file outside the repository, so nothing is added to the user's
 * repository. Runs sharing one working copy take turns through a lock file in its .git
 * directory (see #lock), which exists only while a backup is being written.
 */
const MERGE_ATTRIBUTES = '*/logs/*.log merge=union\n*/metadata/* merge=raas-metadata\n';
/** The merge driver of metadata files: `true` leaves the version being rebased onto. */
const MERGE_DRIVERS = ['merge.raas-metadata.name=raas metadata (rewritten after the merge)', 'merge.raas-metadata.driver=true'];
const LOCK_FILE = 'raas-backup.lock';

const WHAT = 'configuration repository';
const ISV = /^[a-z0-9]{1,16}$/;
/**
 * Where runs over every ISV (raas status --all) keep their logs: `_fleet/logs/`, a name no
 * ISV can have (ISV names are letters and digits), merged like an ISV's logs.
 */
export const FLEET_LOGS = '_fleet';

export interface OpenConfigRepoOptions {
  /** An existing directory (normally the user's checkout); used in place. */
  readonly dir?: string;
  /** Cloned (one branch, shallow) under workDir when no dir is given. */
  readonly url?: string;
  readonly branch?: string;
  readonly workDir: string;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** Further push attempts when another operator pushed first. Default 10. */
  readonly retries?: number;
  /** How long a backup waits for another raas run backing up to the same working copy. Default 120 s. */
  readonly lockTimeoutMs?: number;
}

export interface BackupRequest {
  /** The ISV, or FLEET_LOGS for a run over every ISV. */
  readonly isv: string;
  /**
   * Copied to `<isv>/metadata/<name>`. A function is asked again after every catch-up with
   * the remote, so that what lands is the metadata deployed at that moment: with concurrent
   * runs, the last backup to land then holds what the Crane app serves, whichever run
   * deployed last.
   */
  readonly metadata: readonly NamedText[] | (() => Promise<readonly NamedText[]>);
  /** This run's JSON-lines log, appended to `<isv>/logs/<UTC date>.log`. */
  readonly logFile?: string;
  /** Repository-relative paths the caller wrote itself (raas setup's raas.cfg), committed with the rest. */
  readonly also?: readonly string[];
  /** The raas command that ran ("push"), for the commit message. */
  readonly command: string;
  readonly image?: string;
  /** Write the files, but neither commit nor push. */
  readonly noCommit?: boolean;
  readonly now?: Date;
}

export interface BackupResult {
  /** Repository-relative paths written. */
  readonly files: readonly string[];
  /** The commit holding the backup, when one was made. */
  readonly commit: string | undefined;
  readonly pushed: boolean;
}

export interface ConfigRepo {
  /** The working copy: raas.cfg and one directory per ISV. */
  readonly dir: string;
  /** raas cloned it (RAAS_CONF_REPO): everything in it came from the remote, links included. */
  readonly cloned: boolean;
  backup(request: BackupRequest): Promise<BackupResult>;
  /**
   * Fails, changing nothing, when a backup of `isv` could not be written: a path it writes
   * is of the wrong kind (a link, a file where a directory must be). For a check before
   * anything else is written; the backup itself checks again.
   */
  checkBackup(isv: string, metadata: readonly string[], now?: Date): Promise<void>;
}

interface Upstream {
  readonly remote: string;
  readonly ref: string;
  readonly url: string;
}

async function upstreamOf(git: SimpleGit): Promise<Upstream | undefined> {
  const config = async (key: string) => (await git.raw(['config', '--get', key])).trim();
  const branch = (await git.raw(['symbolic-ref', '--quiet', '--short', 'HEAD'])).trim();
  if (!branch) return undefined;
  const remote = await config(`branch.${branch}.remote`);
  const ref = await config(`branch.${branch}.merge`);
  if (!remote || remote === '.' || !ref) return undefined;
  return { remote, ref, url: (await git.raw(['remote', 'get-url', remote])).trim() || remote };
}

async function readRunLog(file: string, logger: Logger): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    logger.warn(`cannot read this run's log ${file}: ${(error as Error).message}`);
    return '';
  }
  if (text && !text.endsWith('\n')) text += '\n';
  return scrub(text);
}

class WorkingCopy implements ConfigRepo {
  readonly dir: string;
  readonly #git: SimpleGit | undefined;
  /** raas cloned it, so no one else's work is in it. */
  readonly #ours: boolean;
  readonly #options: OpenConfigRepoOptions;

  readonly #files: WorktreeFiles;

  constructor(dir: string, git: SimpleGit | undefined, ours: boolean, options: OpenConfigRepoOptions) {
    this.dir = dir;
    this.#git = git;
    this.#ours = ours;
    this.#options = options;
    // Whoever can push to the repository decides what a working copy of it holds, links included.
    this.#files = new WorktreeFiles(dir, WHAT);
  }

  get cloned(): boolean {
    return this.#ours;
  }

  async backup(request: BackupRequest): Promise<BackupResult> {
    if (request.isv !== FLEET_LOGS && !ISV.test(request.isv)) throw new ConfigError(`'${request.isv}' is not an ISV name (lower-case letters and digits, at most 16)`);
    // raas's own clone is private; a working copy on disk may be shared by concurrent runs.
    const unlock = this.#git && !this.#ours ? await this.#lock(this.#git) : undefined;
    try {
      return await this.#backup(request);
    } finally {
      await unlock?.();
    }
  }

  async checkBackup(isv: string, metadata: readonly string[], now = new Date()): Promise<void> {
    await this.#files.check(path.posix.join(isv, 'metadata'), 'a directory');
    for (const name of metadata) await this.#files.check(path.posix.join(isv, 'metadata', name), 'a file');
    await this.#files.check(path.posix.join(isv, 'logs'), 'a directory');
    await this.#files.check(dayLog(isv, now), 'a file');
  }

  async #backup(request: BackupRequest): Promise<BackupResult> {
    const { logger } = this.#options;
    const metadataDir = path.join(request.isv, 'metadata');
    const writeMetadata = async (): Promise<string[]> => {
      const metadata = typeof request.metadata === 'function' ? await request.metadata() : request.metadata;
      for (const file of metadata) assertPlainName(file.name, `metadata file name for ${request.isv}`);
      return writeNamedFiles(this.dir, metadataDir, metadata, WHAT);
    };
    const files = await writeMetadata();
    const lines = request.logFile ? await readRunLog(request.logFile, logger) : '';
    if (lines) {
      const log = dayLog(request.isv, request.now ?? new Date());
      await this.#files.appendLines(log, lines);
      files.push(log);
    }
    files.push(...(request.also ?? []));
    const git = this.#git;
    if (request.noCommit || files.length === 0) return { files, commit: undefined, pushed: false };
    if (!git) {
      logger.warn(`${this.dir} is not a git working copy: the backup of ${request.isv} is written there but not committed`);
      return { files, commit: undefined, pushed: false };
    }
    const message = `${request.isv}: raas ${request.command}${request.image ? ` ${request.image}` : ''}`;
    if (!(await this.#commit(git, files, message))) return { files, commit: undefined, pushed: false };
    const upstream = await upstreamOf(git);
    if (!upstream) {
      logger.warn(`the ${WHAT} in ${this.dir} has no upstream branch: the backup is committed there but not pushed`);
      return { files, commit: await headCommit(git), pushed: false };
    }
    await retryWhileRemoteMoves(
      async (attempt) => {
        if (attempt > 1) {
          await this.#catchUp(git, upstream);
          // The rebase kept the remote's metadata; write it as deployed now, on top.
          await this.#commit(git, await writeMetadata(), `${message} (metadata as deployed after catching up)`);
        }
        await pushHead(git, upstream.remote, upstream.ref, upstream.url);
      },
      { what: `the ${WHAT}`, logger, retries: this.#options.retries, signal: this.#options.signal },
    );
    const commit = await headCommit(git);
    logger.debug({ commit, files }, `backed up ${request.isv} to the ${WHAT} (${commit.slice(0, 12)})`);
    return { files, commit, pushed: true };
  }

  /**
   * Take the working copy's backup lock: `<git dir>/raas-backup.lock`, created exclusively,
   * naming the process and host. A lock whose process is gone (on this host) is taken over;
   * a live one is waited for, up to lockTimeoutMs. Returns the release.
   */
  async #lock(git: SimpleGit): Promise<() => Promise<void>> {
    const { logger, signal } = this.#options;
    const file = path.resolve(this.dir, (await git.raw(['rev-parse', '--git-dir'])).trim(), LOCK_FILE);
    const me = `${process.pid} ${os.hostname()}\n`;
    const timeout = this.#options.lockTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeout;
    let told = false;
    for (;;) {
      try {
        await writeFile(file, me, { flag: 'wx' });
        return () => rm(file, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new OperationError(`cannot lock ${this.dir} for the backup: ${(error as Error).message}`, { where: file });
        }
      }
      const holder = await readFile(file, 'utf8').catch(() => '');
      const [pid, host] = holder.trim().split(' ');
      if (pid && host === os.hostname() && !processAlive(Number(pid))) {
        if (await removeIfUnchanged(file, holder)) logger.warn(`removed the lock of raas process ${pid}, which ended without releasing it (${file})`);
        continue;
      }
      if (Date.now() > deadline) {
        throw new OperationError(`another raas run (${pid ? `process ${pid} on ${host}` : 'starting'}) is backing up to ${this.dir}; gave up waiting after ${Math.round(timeout / 1000)} s`, {
          where: file,
          fix: `run again when it has finished; if no raas is running there, remove ${file}`,
        });
      }
      if (!told) logger.info(`waiting for another raas run (process ${pid ?? '?'}) to finish its backup to ${this.dir}`);
      told = true;
      await sleep(50 + Math.floor(Math.random() * 100), undefined, { signal });
    }
  }

  /** Commits exactly `files`; false when they hold nothing new. */
  async #commit(git: SimpleGit, files: readonly string[], message: string): Promise<boolean> {
    try {
      // --force: a *.log line in the user's .gitignore must not drop the logs.
      await git.raw(['add', '--force', '--', ...files]);
      if (!(await git.raw(['diff', '--cached', '--name-only', '--', ...files])).trim()) return false;
      // Naming the paths commits only them, whatever else the user has staged.
      await git.raw(['commit', '-m', message, '--', ...files]);
      return true;
    } catch (error) {
      throw new OperationError(`cannot commit the backup in ${this.dir}: ${scrub((error as Error).message).trim()}`, {
        where: this.dir,
        fix: 'finish or abort what is in progress there (a merge or rebase), then run again',
      });
    }
  }

  async #catchUp(git: SimpleGit, upstream: Upstream): Promise<void> {
    try {
      await git.fetch(upstream.remote, upstream.ref);
    } catch (error) {
      throw gitFailure('cannot fetch', upstream.url, error);
    }
    try {
      // In the user's checkout a conflict is theirs to resolve; in our clone our files win.
      // Metadata files never conflict (their driver keeps the remote's version; see backup).
      await git.raw(['rebase', '--autostash', ...(this.#ours ? ['-X', 'theirs'] : []), 'FETCH_HEAD']);
    } catch (error) {
      await git.raw(['rebase', '--abort']).catch(() => undefined);
      throw new OperationError(`cannot rebase the ${WHAT} in ${this.dir} onto ${scrub(upstream.url)}: ${scrub((error as Error).message).trim()}`, {
        where: this.dir,
        fix: 'run git pull --rebase there, resolve the conflict, then git push',
      });
    }
  }
}

/** `<isv>/logs/YYYY-MM-DD.log`, the UTC day's log. */
const dayLog = (isv: string, now: Date): string => path.posix.join(isv, 'logs', `${now.toISOString().slice(0, 10)}.log`);

export async function openConfigRepo(options: OpenConfigRepoOptions): Promise<ConfigRepo> {
  await mkdir(options.workDir, { recursive: true });
  const attributes = path.join(options.workDir, 'raas-merge-attributes');
  await writeFile(attributes, MERGE_ATTRIBUTES);
  const git = { signal: options.signal, config: [`core.attributesFile=${attributes}`, ...MERGE_DRIVERS], mergeDriver: true };
  if (options.dir !== undefined) {
    const dir = path.resolve(options.dir);
    if (!existsSync(dir)) throw new ConfigError(`the ${WHAT} ${dir} does not exist`);
    const isRepo = await gitIn(dir).checkIsRepo();
    return new WorkingCopy(dir, isRepo ? await openGit(dir, git) : undefined, false, options);
  }
  if (options.url === undefined) throw new ConfigError(`no ${WHAT}: give a directory or a URL`, { fix: 'set RAAS_CONF_REPO' });
  const clone = await shallowClone(options.url, { ...git, parentDir: options.workDir, branch: options.branch, what: WHAT }).catch(async (error: unknown) => {
    throw (await missingBranch(options.url!, options.branch, options.workDir, error)) ?? error;
  });
  return new WorkingCopy(clone.dir, clone.git, true, options);
}

/** A branch the repository does not have is a configuration error (exit 2), not a failed clone. */
async function missingBranch(url: string, branch: string | undefined, dir: string, error: unknown): Promise<ConfigError | undefined> {
  if (branch === undefined || !/Remote branch .* not found/i.test(String((error as Error)?.message))) return undefined;
  const heads = await gitIn(dir).raw(['ls-remote', '--heads', url]).catch(() => '');
  const branches = heads.split('\n').map((l) => /refs\/heads\/(.+)$/.exec(l)?.[1]).filter((b): b is string => Boolean(b));
  return new ConfigError(`the ${WHAT} ${scrub(url)} has no branch '${branch}'`, {
    where: '-c, --config-branch (default stage)',
    fix: `pass -c <branch> with a branch it has${branches.length ? ` (${branches.join(', ')})` : ''}, or create ${branch} there`,
  });
}

/**
 * Remove a stale lock only if it still holds what was read: moved aside first, so that a
 * lock another run took in the meantime is put back rather than deleted.
 */
async function removeIfUnchanged(file: string, seen: string): Promise<boolean> {
  const aside = `${file}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(file, aside);
  } catch {
    return false;
  }
  if ((await readFile(aside, 'utf8').catch(() => '')) === seen) {
    await rm(aside, { force: true });
    return true;
  }
  await link(aside, file).catch(() => undefined);
  await rm(aside, { force: true });
  return false;
}
