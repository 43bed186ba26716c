import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { readDataDir, type DataFile } from '../crane/datadir.ts';
import { scrub, silentLogger, type Logger } from '../log.ts';
import { loadCraneData, repositoryCount, type CraneData } from './data.ts';

/**
 * Where raas serve's Crane data comes from, and how it stays current: a git remote (the
 * ISV's Crane app repository) fetched every poll, or a data directory checked every poll
 * for changed files. A snapshot replaces the one served only once it was read completely;
 * a fetch or read that fails leaves the last good one in place.
 */
export interface Snapshot {
  readonly data: CraneData;
  readonly source: 'git' | 'dir';
  /** The commit the data was read from (git), null for a directory. */
  readonly commit: string | null;
  readonly repositories: number;
  /** Increases with every snapshot: answers cached for one (a tag's manifest) are not reused for the next. */
  readonly generation: number;
}

export interface DataSource {
  readonly kind: 'git' | 'dir';
  /** Undefined until the first complete read. */
  current(): Snapshot | undefined;
  /** Read once now, then every poll. */
  start(): void;
  /** Stop polling; waits for a read in progress. */
  close(): Promise<void>;
}

interface PollOptions {
  readonly pollMs: number;
  readonly logger: Logger;
}

let generations = 0;

/** The polling loop both sources share: one read at a time, the next scheduled after it ends. */
function poller(kind: 'git' | 'dir', options: PollOptions, read: () => Promise<{ files: DataFile[]; commit: string | null; where: string } | undefined>): DataSource {
  const log = options.logger;
  let snapshot: Snapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let closed = false;
  let lastProblem: string | undefined;
  const once = async () => {
    try {
      const got = await read();
      if (!got) return;
      const { data, skipped } = loadCraneData(got.files, got.where);
      for (const s of skipped) log.warn({ file: s.file, reason: s.reason }, `skipped ${s.file}: ${s.reason} (the other files are served)`);
      snapshot = { data, source: kind, commit: got.commit, repositories: repositoryCount(data), generation: (generations += 1) };
      log.info({ commit: got.commit, repositories: snapshot.repositories, skipped: skipped.length },
        `serving ${got.commit ? `commit ${got.commit.slice(0, 12)}` : got.where}: ${snapshot.repositories} repositories${skipped.length ? `, ${skipped.length} file(s) skipped` : ''}`);
      lastProblem = undefined;
    } catch (error) {
      const problem = `cannot read the Crane data (${scrub((error as Error).message)}); still serving ${snapshot ? 'the last good data' : 'nothing'}`;
      // Said once, not every poll, until it changes or data was read again.
      log[problem === lastProblem ? 'debug' : 'warn']({ err: error }, problem);
      lastProblem = problem;
    }
  };
  const loop = () => {
    running = once().finally(() => {
      running = undefined;
      if (!closed) timer = setTimeout(loop, options.pollMs);
    });
  };
  return {
    kind,
    current: () => snapshot,
    start: loop,
    async close() {
      closed = true;
      clearTimeout(timer);
      await running;
    },
  };
}

export interface DirSourceOptions extends PollOptions {
  readonly dir: string;
}

/**
 * A Crane data directory, read again when any `*.json` under it was added, removed or
 * changed (Crane compares directory mtimes, which miss a file rewritten in place).
 */
export function dirSource(options: DirSourceOptions): DataSource {
  const dir = path.resolve(options.dir);
  let seen: string | undefined;
  return poller('dir', options, async () => {
    // A missing directory holds no metadata (Crane logs it and serves nothing), until it appears.
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const files = entries.filter((e) => e.isFile() && e.name.endsWith('.json')).map((e) => path.join(e.parentPath, e.name)).sort();
    const stamps = await Promise.all(files.map(async (f) => {
      const s = await stat(f);
      return `${f}\0${s.size}\0${s.mtimeMs}`;
    }));
    const fingerprint = stamps.join('\n');
    if (fingerprint === seen) return undefined;
    const read = await readDataDir(dir);
    seen = fingerprint;
    return { files: read, commit: null, where: `${dir}/` };
  });
}

export interface GitSourceOptions extends PollOptions {
  /** The Crane app repository's remote. */
  readonly remote: string;
  /** Where the metadata is in it (`crane_data_dir`). */
  readonly dataDir: string;
  /** A directory of raas's own for the fetched objects (created). */
  readonly workDir: string;
}

const GIT_TIMEOUT_MS = 120_000;

/**
 * The app repository's default branch, fetched (shallow) into a bare repository of raas's
 * own; the metadata is read from the fetched commit's tree, so no half-written checkout is
 * ever read. Links in the tree are not followed.
 */
export function gitSource(options: GitSourceOptions): DataSource {
  const repo = path.resolve(options.workDir);
  const dataDir = options.dataDir.replace(/^\/+|\/+$/g, '');
  const git = (args: string[], input?: string) =>
    execa('git', ['-C', repo, ...args], { input, timeout: GIT_TIMEOUT_MS, stripFinalNewline: false, encoding: 'buffer' });
  let served: string | undefined;
  let ready = false;
  return poller('git', options, async () => {
    if (!ready) {
      await execa('git', ['init', '--quiet', '--bare', repo], { timeout: GIT_TIMEOUT_MS });
      ready = true;
    }
    try {
      await git(['fetch', '--quiet', '--no-tags', '--depth=1', options.remote, 'HEAD']);
    } catch (error) {
      const stderr = Buffer.from((error as { stderr?: Uint8Array }).stderr ?? []).toString().trim();
      throw new Error(`git fetch ${options.remote} failed: ${stderr.split('\n').slice(-2).join(' / ') || (error as Error).message}`);
    }
    const commit = Buffer.from((await git(['rev-parse', 'FETCH_HEAD^{commit}'])).stdout).toString().trim();
    if (commit === served) return undefined;
    const tree = Buffer.from((await git(['ls-tree', '-r', '-z', '--full-tree', commit, '--', `${dataDir}/`])).stdout).toString();
    const blobs = tree.split('\0').filter(Boolean).map((line) => {
      const [meta, name] = [line.slice(0, line.indexOf('\t')), line.slice(line.indexOf('\t') + 1)];
      const [mode, type, sha] = meta.split(' ');
      return { mode, type, sha: sha!, name: name.slice(dataDir.length + 1) };
    }).filter((b) => b.type === 'blob' && (b.mode === '100644' || b.mode === '100755') && b.name.endsWith('.json'));
    const files = await catFiles(git, blobs);
    served = commit;
    return { files: files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), commit, where: `${dataDir}/` };
  });
}

/** Contents of many blobs from one `git cat-file --batch`. */
async function catFiles(git: (args: string[], input?: string) => Promise<{ stdout: Uint8Array }>, blobs: readonly { sha: string; name: string }[]): Promise<DataFile[]> {
  if (blobs.length === 0) return [];
  const out = Buffer.from((await git(['cat-file', '--batch'], blobs.map((b) => `${b.sha}\n`).join(''))).stdout);
  const files: DataFile[] = [];
  let at = 0;
  for (const blob of blobs) {
    const eol = out.indexOf(0x0a, at);
    const [, type, size] = out.subarray(at, eol).toString().split(' ');
    if (type !== 'blob') throw new Error(`git cat-file: ${blob.sha} is not a blob`);
    const length = Number(size);
    files.push({ name: blob.name, text: out.subarray(eol + 1, eol + 1 + length).toString('utf8') });
    at = eol + 1 + length + 1;
  }
  return files;
}

/**
 * A data directory read once and not watched: its snapshot stays. What stands in for a
 * deployed Crane where nothing changes while it serves (status of one commit, tests, bench).
 */
export async function dirSnapshot(dir: string, logger: Logger = silentLogger()): Promise<DataSource> {
  const source = dirSource({ dir, pollMs: 60_000, logger });
  source.start();
  await source.close();
  return source;
}
