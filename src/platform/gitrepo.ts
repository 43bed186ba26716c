import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import pRetry from 'p-retry';
import { simpleGit, type SimpleGit } from 'simple-git';
import { InputError, OperationError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';
import { WorktreeFiles } from './worktree-files.ts';

/**
 * The git mechanics shared by the Crane app deployment and the configuration repository:
 * shallow clones, a committer identity on machines without one, file writes that cannot
 * leave the working copy (platform/worktree-files.ts), a check that git staged exactly what
 * was written, and pushes that catch up with a remote that moved.
 */

/** Who commits when git config names nobody (CI machines, fresh containers). */
export const FALLBACK_IDENTITY = { name: 'raas', email: 'raas@localhost' } as const;

export interface GitOptions {
  readonly signal?: AbortSignal | undefined;
  /** Extra `-c key=value` settings for every command. */
  readonly config?: readonly string[];
  /** `config` defines a merge driver (simple-git refuses them otherwise); only for raas's own, fixed drivers. */
  readonly mergeDriver?: boolean;
}

export interface Clone {
  readonly dir: string;
  readonly git: SimpleGit;
  readonly branch: string;
}

/**
 * simple-git strips every GIT_* variable of the environment (GIT_SSH_COMMAND for a deploy
 * key, GIT_SSL_CAINFO, GIT_CONFIG_GLOBAL, ...) unless allowed by name. raas's git must
 * behave like the user's own git in the same shell, so the process environment passes.
 */
export function gitIn(dir: string, options: GitOptions = {}): SimpleGit {
  return simpleGit({
    baseDir: dir,
    allowEnvironment: Object.keys(process.env),
    config: [...(options.config ?? [])],
    ...(options.mergeDriver ? { unsafe: { allowUnsafeMergeDriver: true } } : {}),
    ...(options.signal ? { abort: options.signal } : {}),
  });
}

/** gitIn, plus a committer identity when git config has none. */
export async function openGit(dir: string, options: GitOptions = {}): Promise<SimpleGit> {
  const probe = gitIn(dir, options);
  const config = [...(options.config ?? [])];
  // `git config --get` prints nothing (exit 1) when the key is unset everywhere.
  if (!(await probe.raw(['config', '--get', 'user.name'])).trim()) config.push(`user.name=${FALLBACK_IDENTITY.name}`);
  if (!(await probe.raw(['config', '--get', 'user.email'])).trim()) config.push(`user.email=${FALLBACK_IDENTITY.email}`);
  return gitIn(dir, { ...options, config });
}

/** An OperationError about `remote` whose text carries no credentials. */
export function gitFailure(what: string, remote: string, error: unknown): OperationError {
  const shown = scrub(remote);
  const lines = scrub(error instanceof Error ? error.message : String(error)).split('\n').map((l) => l.trim()).filter(Boolean);
  return new OperationError(`${what} ${shown}: ${lines.slice(-3).join(' / ') || 'git failed'}`, {
    where: shown,
    fix: 'check the URL, that this machine can reach it, and that your SSH key or token has access to it',
  });
}

/** A clone of one branch at depth 1 in a fresh directory under `parentDir`. */
export async function shallowClone(
  remote: string,
  options: GitOptions & { readonly parentDir: string; readonly branch?: string | undefined; readonly what: string },
): Promise<Clone> {
  await mkdir(options.parentDir, { recursive: true });
  const dir = await mkdtemp(path.join(options.parentDir, 'clone-'));
  const args = ['--depth', '1', '--no-tags', ...(options.branch ? ['--branch', options.branch] : [])];
  try {
    await gitIn(options.parentDir, options).clone(remote, dir, args);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw gitFailure(`cannot clone the ${options.what}`, remote, error);
  }
  const git = await openGit(dir, options);
  const branch = options.branch ?? (await git.raw(['symbolic-ref', '--short', 'HEAD'])).trim();
  return { dir, git, branch };
}

export async function headCommit(git: SimpleGit): Promise<string> {
  return (await git.revparse(['HEAD'])).trim();
}

/** Paths (relative to the work tree) of what `git add` staged. */
export async function stagedPaths(git: SimpleGit): Promise<string[]> {
  return (await git.raw(['diff', '--cached', '--name-only'])).split('\n').filter(Boolean);
}

export interface NamedText {
  readonly name: string;
  readonly text: string;
}

/** Refuses names that could leave the directory they are written into, or hide in it. */
export function assertPlainName(name: string, where: string): void {
  if (!name || name.startsWith('.') || /[\\/\0]/.test(name)) {
    throw new InputError(`'${name}' is not a plain file name`, { where, fix: 'use a name without "/", "\\" or a leading "."' });
  }
}

/**
 * Writes each file as `<root>/<subdir>/<name>` without following a link on the way;
 * returns the repository-relative paths written. `what` names the repository in messages.
 */
export async function writeNamedFiles(root: string, subdir: string, files: readonly NamedText[], what: string): Promise<string[]> {
  return new WorktreeFiles(root, what).writeAll(subdir, files);
}

/** git's blob id of `text`, to compare with what `git add` staged. */
const blobId = (text: string): string => {
  const bytes = Buffer.from(text);
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
};

/**
 * Requires the index to hold each path as a regular file with exactly the text written:
 * attributes in the repository (a `working-tree-encoding`, a filter) or anything else
 * that changed the bytes on the way make this fail before a commit is made, so nothing
 * is ever reported deployed that git did not take as written.
 */
export async function assertStaged(git: SimpleGit, files: readonly { readonly path: string; readonly text: string }[], what: string): Promise<void> {
  if (files.length === 0) return;
  const listed = await git.raw(['ls-files', '--stage', '-z', '--', ...files.map((f) => f.path)]);
  const staged = new Map<string, { mode: string; blob: string }>();
  for (const line of listed.split('\0').filter(Boolean)) {
    const [info, file] = line.split('\t');
    const [mode, blob] = info!.split(' ');
    staged.set(file!, { mode: mode!, blob: blob! });
  }
  for (const file of files) {
    const got = staged.get(file.path);
    if (got?.mode === '100644' && got.blob === blobId(file.text)) continue;
    throw new OperationError(`git did not take ${file.path} as raas wrote it (${got ? `staged as mode ${got.mode}, blob ${got.blob.slice(0, 12)}` : 'not staged'}); nothing was committed`, {
      where: `${what} ${file.path}`,
      fix: `check .gitattributes and what else in the ${what} applies to that path`,
    });
  }
}

/** The push lost a race: the remote branch moved since we last fetched it. */
class RemoteMoved extends Error {}

/**
 * `git push <remote> HEAD:<ref>`, never forced, so the remote takes all of it or none.
 * Whether a refused push lost a race is decided from the ref itself, never from the text
 * of the refusal (a hook may print anything, "fetch first" included): the push lost a race
 * when the remote's ref now points to a commit HEAD does not contain. When it points to
 * HEAD itself, the commit is there (an identical commit made by a concurrent run landed
 * first, and git refused only to update the ref to what it already was).
 */
export async function pushHead(git: SimpleGit, remote: string, ref: string, remoteUrl: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await git.raw(['push', remote, `HEAD:${ref}`]);
      return;
    } catch (error) {
      const state = await remoteRefState(git, remote, ref);
      if (state === 'ours') return;
      if (state === 'moved') throw new RemoteMoved(scrub(error instanceof Error ? error.message : String(error)));
      // Refused although the ref still allows a fast-forward: a concurrent push may hold the
      // ref's lock, which git refuses to wait for. Pushing again tells that race from a
      // refusal that is not about the ref (a hook, permissions), which repeats.
      if (attempt === PUSH_ATTEMPTS) throw gitFailure('cannot push to', remoteUrl, error);
      await sleep(150 * attempt);
    }
  }
}

/** Pushes of one commit before a refusal that leaves the ref fast-forwardable counts as final. */
const PUSH_ATTEMPTS = 3;

/** Where the remote's ref is, seen from HEAD: at HEAD, behind it (so the push was a fast-forward), elsewhere, or unknown. */
async function remoteRefState(git: SimpleGit, remote: string, ref: string): Promise<'ours' | 'behind' | 'moved' | 'unknown'> {
  let tip: string | undefined;
  try {
    tip = (await git.raw(['ls-remote', remote, ref])).split(/\s/)[0] || undefined;
  } catch {
    return 'unknown';
  }
  if (tip === undefined) return 'unknown';
  if (tip === (await headCommit(git))) return 'ours';
  try {
    // The remote's tip is an ancestor of HEAD when it is their merge base: then the server
    // refused a fast-forward. (Not `merge-base --is-ancestor`: simple-git rejects only on
    // output to stderr, and its "no" is exit 1 in silence, which read as "yes".) A tip this
    // clone has never fetched is an error here: another push landed.
    const base = (await git.raw(['merge-base', tip, 'HEAD'])).trim();
    return base === tip ? 'behind' : 'moved';
  } catch {
    return 'moved';
  }
}

export interface RetryOptions {
  /** For messages: "the Crane app repository". */
  readonly what: string;
  readonly logger: Logger;
  /** Further attempts after the first (default 10). */
  readonly retries?: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs `attempt` (which ends in pushHead) again, after a jittered back-off, each time the
 * push loses a race; `attempt` receives the attempt number so later attempts catch up with
 * the remote first. Other failures end the run at once.
 */
export async function retryWhileRemoteMoves<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  // Enough for a handful of runs pushing one repository at once (CI jobs, cron): about 40 s of back-off at most.
  const retries = options.retries ?? 10;
  try {
    return await pRetry(attempt, {
      retries,
      minTimeout: 200,
      maxTimeout: 5000,
      randomize: true,
      ...(options.signal ? { signal: options.signal } : {}),
      shouldRetry: ({ error }) => error instanceof RemoteMoved,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (error instanceof RemoteMoved && retriesLeft > 0) {
          options.logger.info(`${options.what} changed while pushing; catching up (attempt ${attemptNumber + 1})`);
        }
      },
    });
  } catch (error) {
    if (!(error instanceof RemoteMoved)) throw error;
    throw new OperationError(`${options.what} kept changing while raas pushed: gave up after ${retries + 1} attempts`, {
      fix: 'run the command again; nothing was half-published',
    });
  }
}
