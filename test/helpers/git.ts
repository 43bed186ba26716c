import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

/**
 * Real git repositories for tests. Every helper names its own committer, so tests pass on
 * machines without a git identity.
 */

const exec = promisify(execFile);
const IDENTITY = ['-c', 'user.name=raas tests', '-c', 'user.email=tests@raas.invalid'];

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('git', [...IDENTITY, ...args], { cwd, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** A temporary directory removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'raas-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeTree(root: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), text);
  }
}

/** Commits `files` (added or replaced) to `branch` of `remote` from a throwaway clone. */
export async function commitToRemote(
  remote: string,
  options: { files: Readonly<Record<string, string>>; message?: string; branch?: string },
): Promise<void> {
  const branch = options.branch ?? 'master';
  const work = await mkdtemp(path.join(os.tmpdir(), 'raas-test-work-'));
  try {
    await git(work, 'init', '-q', '-b', branch);
    await git(work, 'remote', 'add', 'origin', remote);
    const existing = (await git(work, 'ls-remote', 'origin', `refs/heads/${branch}`)).trim();
    if (existing) {
      await git(work, 'fetch', '-q', 'origin', branch);
      await git(work, 'reset', '-q', '--hard', 'FETCH_HEAD');
    }
    await writeTree(work, options.files);
    await git(work, 'add', '-A');
    await git(work, 'commit', '-q', '-m', options.message ?? 'test commit');
    await git(work, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A bare repository at `dir` whose `branch` holds `files` in one commit (or no commit at all). */
export async function makeBareRepo(
  dir: string,
  options: { files?: Readonly<Record<string, string>>; branch?: string } = {},
): Promise<string> {
  const branch = options.branch ?? 'master';
  await mkdir(dir, { recursive: true });
  await git(dir, 'init', '-q', '--bare', '-b', branch);
  if (options.files) await commitToRemote(dir, { files: options.files, message: 'initial', branch });
  return dir;
}

export async function commitCount(repo: string, ref = 'HEAD'): Promise<number> {
  return Number((await git(repo, 'rev-list', '--count', ref)).trim());
}

/** Subjects of the commits on `ref`, newest first. */
export async function commitMessages(repo: string, ref = 'HEAD'): Promise<string[]> {
  return (await git(repo, 'log', '--format=%s', ref)).split('\n').filter(Boolean);
}

export async function commitAuthor(repo: string, ref = 'HEAD'): Promise<string> {
  return (await git(repo, 'log', '-1', '--format=%an <%ae>', ref)).trim();
}

/** Every file at `ref` of `repo` (bare or not), by path. */
export async function filesAt(repo: string, ref = 'HEAD'): Promise<Map<string, string>> {
  const paths = (await git(repo, 'ls-tree', '-r', '--name-only', ref)).split('\n').filter(Boolean);
  return new Map(await Promise.all(paths.map(async (p) => [p, await git(repo, 'show', `${ref}:${p}`)] as const)));
}

/** Every file of a fresh clone of `remote`, by path. */
export async function cloneAndRead(remote: string, options: { branch?: string } = {}): Promise<Map<string, string>> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'raas-test-clone-'));
  try {
    await git(work, 'clone', '-q', ...(options.branch ? ['--branch', options.branch] : []), remote, 'c');
    const dir = path.join(work, 'c');
    const paths = (await git(dir, 'ls-files')).split('\n').filter(Boolean);
    return new Map(await Promise.all(paths.map(async (p) => [p, await readFile(path.join(dir, p), 'utf8')] as const)));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Makes the next push (or every push) to `bare` lose a race, deterministically: a pre-receive hook moves
 * `branch` once (appending `append` to `file`, or with an empty commit) after the pusher
 * negotiated, so the server refuses the push with "failed to update ref", exactly as when
 * another operator's push lands first.
 */
export async function moveRemoteOnNextPush(
  bare: string,
  options: { branch?: string; file?: string; append?: string; everyTime?: boolean } = {},
): Promise<void> {
  const ref = `refs/heads/${options.branch ?? 'master'}`;
  const edit = options.file
    ? `blob=$( { git cat-file blob "$tip:${options.file}" 2>/dev/null; printf '%s' '${options.append ?? ''}'; } | git hash-object -w --stdin)
git update-index --add --cacheinfo "100644,$blob,${options.file}"`
    : '';
  const hook = `#!/bin/sh
marker="$(pwd)/raas-test-moved"
${options.everyTime ? '' : '[ -e "$marker" ] && exit 0'}
: > "$marker"
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
export GIT_INDEX_FILE="$(pwd)/raas-test-index"
export GIT_AUTHOR_NAME=other GIT_AUTHOR_EMAIL=other@raas.invalid GIT_COMMITTER_NAME=other GIT_COMMITTER_EMAIL=other@raas.invalid
tip=$(git rev-parse ${ref})
git read-tree "$tip"
${edit}
tree=$(git write-tree)
rm -f "$GIT_INDEX_FILE"
git update-ref ${ref} "$(git commit-tree "$tree" -p "$tip" -m 'moved by another operator')" "$tip"
`;
  const file = path.join(bare, 'hooks', 'pre-receive');
  await writeFile(file, hook);
  await chmod(file, 0o755);
}
