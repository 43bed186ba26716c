import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SimpleGit } from 'simple-git';
import { ConfigError, OperationError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';
import {
  assertPlainName, gitFailure, gitIn, headCommit, openGit, pushHead, retryWhileRemoteMoves, shallowClone, writeNamedFiles,
  type NamedText,
} from '../platform/gitrepo.ts';

/**
 * The private configuration repository (RAAS_CONF_REPO): raas.cfg, and per ISV a backup
 * of the deployed metadata (`<isv>/metadata/`) and the logs of every run
 * (`<isv>/logs/YYYY-MM-DD.log`). Operators run raas concurrently, so pushes catch up with
 * the remote: log files merge as a union (both sides' appended lines are kept) and, in a
 * clone raas made, raas's own metadata wins over a concurrent change to the same file.
 * The merge rules live in an attributes file outside the repository, so nothing is added
 * to the user's repository or its .git directory.
 */
const MERGE_ATTRIBUTES = '*/logs/*.log merge=union\n*/metadata/* merge=binary\n';

const WHAT = 'configuration repository';
const ISV = /^[a-z0-9]{1,16}$/;

export interface OpenConfigRepoOptions {
  /** An existing directory (normally the user's checkout); used in place. */
  readonly dir?: string;
  /** Cloned (one branch, shallow) under workDir when no dir is given. */
  readonly url?: string;
  readonly branch?: string;
  readonly workDir: string;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** Further push attempts when another operator pushed first. Default 5. */
  readonly retries?: number;
}

export interface BackupRequest {
  readonly isv: string;
  /** Copied to `<isv>/metadata/<name>`. */
  readonly metadata: readonly NamedText[];
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
  backup(request: BackupRequest): Promise<BackupResult>;
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

/** Appends whole lines: a file without a final newline gets one first. */
async function appendLines(file: string, lines: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const existing = await readFile(file, 'utf8').catch(() => '');
  await appendFile(file, existing && !existing.endsWith('\n') ? `\n${lines}` : lines);
}

class WorkingCopy implements ConfigRepo {
  readonly dir: string;
  readonly #git: SimpleGit | undefined;
  /** raas cloned it, so no one else's work is in it. */
  readonly #ours: boolean;
  readonly #options: OpenConfigRepoOptions;

  constructor(dir: string, git: SimpleGit | undefined, ours: boolean, options: OpenConfigRepoOptions) {
    this.dir = dir;
    this.#git = git;
    this.#ours = ours;
    this.#options = options;
  }

  async backup(request: BackupRequest): Promise<BackupResult> {
    const { logger } = this.#options;
    if (!ISV.test(request.isv)) throw new ConfigError(`'${request.isv}' is not an ISV name (lower-case letters and digits, at most 16)`);
    for (const file of request.metadata) assertPlainName(file.name, `metadata file name for ${request.isv}`);
    const files = await writeNamedFiles(this.dir, path.join(request.isv, 'metadata'), request.metadata);
    const lines = request.logFile ? await readRunLog(request.logFile, logger) : '';
    if (lines) {
      const log = path.posix.join(request.isv, 'logs', `${(request.now ?? new Date()).toISOString().slice(0, 10)}.log`);
      await appendLines(path.join(this.dir, log), lines);
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
        if (attempt > 1) await this.#catchUp(git, upstream);
        await pushHead(git, upstream.remote, upstream.ref, upstream.url);
      },
      { what: `the ${WHAT}`, logger, retries: this.#options.retries, signal: this.#options.signal },
    );
    const commit = await headCommit(git);
    logger.debug({ commit, files }, `backed up ${request.isv} to the ${WHAT} (${commit.slice(0, 12)})`);
    return { files, commit, pushed: true };
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

export async function openConfigRepo(options: OpenConfigRepoOptions): Promise<ConfigRepo> {
  await mkdir(options.workDir, { recursive: true });
  const attributes = path.join(options.workDir, 'raas-merge-attributes');
  await writeFile(attributes, MERGE_ATTRIBUTES);
  const git = { signal: options.signal, config: [`core.attributesFile=${attributes}`] };
  if (options.dir !== undefined) {
    const dir = path.resolve(options.dir);
    if (!existsSync(dir)) throw new ConfigError(`the ${WHAT} ${dir} does not exist`);
    const isRepo = await gitIn(dir).checkIsRepo();
    return new WorkingCopy(dir, isRepo ? await openGit(dir, git) : undefined, false, options);
  }
  if (options.url === undefined) throw new ConfigError(`no ${WHAT}: give a directory or a URL`, { fix: 'set RAAS_CONF_REPO' });
  const clone = await shallowClone(options.url, { ...git, parentDir: options.workDir, branch: options.branch, what: WHAT });
  return new WorkingCopy(clone.dir, clone.git, true, options);
}
