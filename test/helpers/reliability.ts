import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { pulpChain, randomLayer, writePulpExport } from './archives.ts';
import { git } from './git.ts';
import { RAAS_BIN, type RunResult, type World } from './world.ts';

/**
 * Tools of the reliability suite (test/e2e/reliability-*.test.ts): raas runs that can be
 * watched and killed at a chosen moment, points where git pauses so that a kill lands
 * exactly there, a proxy that holds a chosen S3 request, and the checks every fault must
 * pass. Nothing here needs a hook in raas itself: the pauses are a `git` wrapper put
 * first on PATH, hooks in the test's own bare repositories, and a proxy in front of s3rver.
 */

// ----------------------------------------------------------------------------- runs

export interface Finished extends RunResult {
  /** The signal that ended the process, if one did. */
  readonly signal: NodeJS.Signals | null;
  readonly ms: number;
}

export interface Running {
  readonly pid: number;
  /** stderr lines so far. */
  readonly lines: readonly string[];
  readonly done: Promise<Finished>;
  /** Resolves when `pattern` has matched `count` stderr lines (rejects if raas ends first). */
  line(pattern: RegExp, count?: number): Promise<string>;
  /** Signal raas alone, or its whole process group (git and hooks included), as a terminal or a crash would. */
  kill(signal: NodeJS.Signals, scope?: 'process' | 'group'): void;
}

/**
 * bin/raas as its own process group, so that a kill can take git and its hooks down with
 * it (a crash of the whole command) or reach raas alone (kill <pid>).
 */
export function startRaas(
  t: TestContext,
  world: World,
  args: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    timeoutMs?: number;
    /** Leave what raas leaves running in its group when it exits (otherwise killed then, and at the end of the test). */
    keepGroup?: boolean;
  } = {},
): Running {
  const started = Date.now();
  const child = spawn(process.execPath, [RAAS_BIN, ...args], {
    cwd: options.cwd ?? world.configDir,
    env: { ...world.env, ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  const lines: string[] = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    const parts = (partial + s).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const wake of [...waiters]) wake();
  });
  let alive = true;
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), options.timeoutMs ?? 120_000);
  const done = new Promise<Finished>((resolve) => {
    child.on('close', (code, signal) => {
      alive = false;
      clearTimeout(timer);
      if (partial) lines.push(partial);
      for (const wake of [...waiters]) wake();
      // Whatever raas left running in its group (a git push, a hook) goes with it.
      if (!options.keepGroup) killGroup(pid, 'SIGKILL');
      resolve({ code: code ?? -1, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  t.after(async () => {
    killGroup(pid, 'SIGKILL');
    await done;
  });
  return {
    pid,
    lines,
    done,
    line(pattern, count = 1) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const matching = lines.filter((l) => pattern.test(l));
          if (matching.length >= count) {
            waiters.delete(check);
            resolve(matching[count - 1]!);
          } else if (!alive) {
            waiters.delete(check);
            reject(new Error(`raas ended before ${count} lines matched ${pattern}:\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    kill(signal, scope = 'group') {
      if (scope === 'group') killGroup(pid, signal);
      else {
        try {
          process.kill(pid, signal);
        } catch {
          // gone already
        }
      }
    },
  };
}

/** Resolves when no process of the group `pid` leads is left (false after `timeoutMs`). */
export async function groupGone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(-pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** Resolves once `file` exists (a hook or the git wrapper reached its pause). */
export async function waitForFile(file: string, options: { timeoutMs?: number; while?: Running } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let ended = false;
  void options.while?.done.then(() => (ended = true));
  while (!existsSync(file)) {
    if (ended) throw new Error(`raas ended before ${file} appeared:\n${options.while!.lines.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`${file} did not appear`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ----------------------------------------------------------------------------- pauses

export interface Pause {
  /** Written when git or the hook reaches the pause. */
  readonly marker: string;
  /** Let it go on. */
  release(): Promise<void>;
}

export interface Pauses {
  /** Prepend to PATH (the git wrapper's directory). */
  readonly bin: string;
  /**
   * Environment for a raas run whose git pauses before running `subcommand` in a working
   * directory matching `dir` (a shell glob).
   */
  git(subcommand: string, dir: string): Pause & { env: NodeJS.ProcessEnv };
  /** A hook in a repository (bare or not) that pauses every time it runs, until removed. */
  hook(repo: string, name: 'pre-receive' | 'post-receive' | 'pre-commit'): Promise<Pause & { remove(): Promise<void> }>;
}

const REAL_GIT = execFileSync('sh', ['-c', 'command -v git']).toString().trim();

/**
 * Pauses for kill points. A `git` wrapper runs the real git, except that when
 * RAAS_TEST_GIT_PAUSE matches "<subcommand>:<working directory>" it writes
 * RAAS_TEST_GIT_MARK and waits for RAAS_TEST_GIT_RELEASE first; options before the
 * subcommand (-c, -C) are skipped as git does. Hooks do the same inside git. Every pause
 * gives up after 20 s, and all are released when the test ends, so nothing outlives it.
 */
export async function makePauses(t: TestContext, root: string): Promise<Pauses> {
  const dir = await mkdtemp(path.join(root, 'pauses-'));
  const bin = path.join(dir, 'bin');
  const all = path.join(dir, 'all-released');
  await mkdir(bin);
  const wait = (release: string) => `i=0; while [ ! -e "${release}" ] && [ ! -e '${all}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done`;
  await writeFile(
    path.join(bin, 'git'),
    `#!/bin/sh
if [ -n "$RAAS_TEST_GIT_PAUSE" ]; then
  sub=""; skip=""
  for a in "$@"; do
    if [ -n "$skip" ]; then skip=""; continue; fi
    case "$a" in -c|-C) skip=1 ;; -*) ;; *) sub="$a"; break ;; esac
  done
  case "$sub:$PWD" in
    $RAAS_TEST_GIT_PAUSE) : > "$RAAS_TEST_GIT_MARK"; ${wait('$RAAS_TEST_GIT_RELEASE')} ;;
  esac
fi
exec '${REAL_GIT}' "$@"
`,
  );
  await chmod(path.join(bin, 'git'), 0o755);
  let n = 0;
  t.after(() => writeFile(all, '').catch(() => undefined));
  const pause = () => {
    n += 1;
    const release = path.join(dir, `release-${n}`);
    return { marker: path.join(dir, `marker-${n}`), release, go: () => writeFile(release, '') };
  };
  return {
    bin,
    git(subcommand, where) {
      const { marker, release, go } = pause();
      return {
        marker,
        release: go,
        env: { PATH: `${bin}${path.delimiter}${process.env.PATH}`, RAAS_TEST_GIT_PAUSE: `${subcommand}:${where}`, RAAS_TEST_GIT_MARK: marker, RAAS_TEST_GIT_RELEASE: release },
      };
    },
    async hook(repo, name) {
      const { marker, release, go } = pause();
      const hooks = existsSync(path.join(repo, '.git')) ? path.join(repo, '.git', 'hooks') : path.join(repo, 'hooks');
      const file = path.join(hooks, name);
      await writeFile(file, `#!/bin/sh\n${name === 'pre-commit' ? '' : 'cat > /dev/null\n'}: > '${marker}'\n${wait(release)}\nexit 0\n`);
      await chmod(file, 0o755);
      return { marker, release: go, remove: () => rm(file, { force: true }) };
    },
  };
}

// ----------------------------------------------------------------------------- S3 proxy

export interface SeenRequest {
  readonly method: string;
  /** Object key ("" for bucket requests). */
  readonly key: string;
  readonly query: string;
}

export interface GateProxy {
  readonly endpoint: string;
  readonly seen: readonly SeenRequest[];
  /**
   * The next request `match` accepts is held once half its body has arrived (or at once
   * when it has none); resolves when it is held. `release` lets it go on.
   */
  hold(match: (r: SeenRequest) => boolean): Promise<{ release(): void }>;
  stop(): Promise<void>;
}

/** A plain forwarding proxy in front of s3rver that records requests and can hold one mid-body. */
export async function startGateProxy(t: TestContext, target: string): Promise<GateProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const seen: SeenRequest[] = [];
  let pending: { match: (r: SeenRequest) => boolean; held: (release: () => void) => void } | undefined;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const [, , ...rest] = url.pathname.split('/');
    const request = { method: req.method ?? '', key: decodeURIComponent(rest.join('/')), query: url.search };
    seen.push(request);
    const proxied = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    proxied.on('error', () => req.socket.destroy());
    res.on('close', () => {
      if (!res.writableFinished) proxied.destroy();
    });
    if (pending?.match(request)) {
      const { held } = pending;
      pending = undefined;
      const length = Number(req.headers['content-length'] ?? 0);
      let received = 0;
      let paused = false;
      let remainder: Buffer | undefined;
      const pause = () => {
        paused = true;
        req.pause();
        held(() => {
          if (remainder) proxied.write(remainder);
          if (!(length > 0)) proxied.end();
          req.resume();
        });
      };
      req.on('data', (chunk: Buffer) => {
        const half = Math.ceil(length / 2);
        if (!paused && received + chunk.length >= half) {
          const cut = half - received;
          proxied.write(chunk.subarray(0, cut));
          remainder = chunk.subarray(cut);
          received += chunk.length;
          return pause();
        }
        received += chunk.length;
        proxied.write(chunk);
      });
      if (length > 0) req.on('end', () => proxied.end());
      else pause();
      return;
    }
    req.pipe(proxied);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    });
  t.after(stop);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    hold(match) {
      return new Promise((resolve) => {
        pending = { match, held: (release) => resolve({ release }) };
      });
    },
    stop,
  };
}

// ----------------------------------------------------------------------------- checks

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Every file under `root` (skipping `skip`, paths relative to root) -> sha256, plus directories and symlinks. */
export async function fileTree(root: string, skip: readonly string[] = []): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    const full = path.join(entry.parentPath, entry.name);
    const rel = path.relative(root, full);
    if (skip.some((s) => rel === s || rel.startsWith(`${s}${path.sep}`))) continue;
    if (entry.isFile()) out.set(rel, sha256(await readFile(full)));
    else if (entry.isDirectory()) out.set(`${rel}/`, 'dir');
    else out.set(rel, entry.isSymbolicLink() ? 'symlink' : 'other');
  }
  return out;
}

/** Differences between two file trees, for assertion messages. */
export function treeChanges(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  const changes: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) changes.push(`${before.has(k) ? 'changed' : 'added'} ${k}`);
  for (const k of before.keys()) if (!after.has(k)) changes.push(`removed ${k}`);
  return changes;
}

/** Files left in a directory (a run's TMPDIR), for "raas cleaned up after itself". */
export async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** Keys of the visible objects (bookkeeping dot files of the file store excluded). */
export function visible(objects: ReadonlyMap<string, string>): Map<string, string> {
  return new Map([...objects].filter(([key]) => !key.split('/').some((s) => s.startsWith('.'))));
}

const digestCache = new WeakMap<World, Map<string, string>>();

/**
 * world.objects(), without reading again what did not change since the last call: an
 * object whose listing (size, ETag, modification time) is the same keeps its digest.
 */
export async function objectDigests(world: World): Promise<Map<string, string>> {
  const cache = digestCache.get(world) ?? new Map<string, string>();
  digestCache.set(world, cache);
  const out = new Map<string, string>();
  const listed: { key: string; stamp: string }[] = [];
  if (world.s3) {
    let token: string | undefined;
    do {
      const page = await world.s3.client.send(new ListObjectsV2Command({ Bucket: world.bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) listed.push({ key: o.Key!, stamp: `${o.Size}|${o.ETag}|${o.LastModified?.getTime()}` });
      token = page.NextContinuationToken;
    } while (token);
  } else {
    for (const entry of await readdir(world.storageDir, { recursive: true, withFileTypes: true }).catch(() => [])) {
      if (!entry.isFile()) continue;
      const file = path.join(entry.parentPath, entry.name);
      const info = await stat(file).catch(() => undefined);
      if (info) listed.push({ key: path.relative(world.storageDir, file).split(path.sep).join('/'), stamp: `${info.size}|${info.mtimeMs}|${info.ino}` });
    }
  }
  for (const { key, stamp } of listed) {
    const id = `${key}\0${stamp}`;
    let digest = cache.get(id);
    if (digest === undefined) {
      const data = await world.object(key).catch(() => undefined);
      if (!data) continue;
      digest = sha256(data);
      cache.set(id, digest);
    }
    out.set(key, digest);
  }
  return out;
}

/** The Crane metadata files at `ref` of a repository under `dir` ("crane/data" or "acme/metadata"), by name. */
export async function metadataFiles(repo: string, dir: string, ref = 'HEAD'): Promise<Map<string, string>> {
  const names = (await git(repo, 'ls-tree', '-r', '--name-only', ref, '--', `${dir}/`).catch(() => '')).split('\n').filter((n) => n.endsWith('.json'));
  return new Map(await Promise.all(names.map(async (n) => [n.slice(dir.length + 1), await git(repo, 'show', `${ref}:${n}`)] as const)));
}

/**
 * Storage key of a redirect file's base URL + `rest`, or undefined when the URL is not the
 * store's. For S3 that is a path-style URL of the bucket on any loopback origin: s3rver's
 * own, or that of a proxy in front of it that raas was configured with (the crash, signal
 * and integrity suites), whose URL is then what raas deploys.
 */
function keyUnder(world: World, url: string, rest: string): string | undefined {
  if (!world.s3) {
    const base = `file://${world.storageDir}/`;
    return url.startsWith(base) ? decodeURIComponent(url.slice(base.length)) + rest : undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname) && /^https?:$/.test(parsed.protocol);
  const bucket = `/${world.bucket}/`;
  return loopback && parsed.pathname.startsWith(bucket) && !parsed.search ? decodeURIComponent(parsed.pathname.slice(bucket.length)) + rest : undefined;
}

interface Descriptor {
  readonly digest?: unknown;
  readonly size?: unknown;
  readonly urls?: unknown;
}
interface Schema2 {
  readonly schemaVersion?: unknown;
  readonly mediaType?: unknown;
  readonly config?: Descriptor;
  readonly layers?: unknown;
}
const SCHEMA2_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
const isDigest = (value: unknown): value is string => typeof value === 'string' && /^sha256:[0-9a-f]{64}$/.test(value);

/** Stored JSON objects parsed (undefined: not JSON), by the sha256 of their bytes. */
const parsedBySha = new Map<string, unknown>();

async function parsedAt(world: World, key: string, sha: string): Promise<unknown> {
  if (!parsedBySha.has(sha)) {
    let value: unknown;
    try {
      value = JSON.parse((await world.object(key)).toString('utf8'));
    } catch {
      value = undefined;
    }
    parsedBySha.set(sha, value);
  }
  return parsedBySha.get(sha);
}

/** A reference from a metadata file: the storage key it needs, and what it is for (for messages). */
interface Reference {
  readonly key: string;
  /** What the object's bytes must hash to, when the reference says. */
  readonly sha256?: string;
  readonly why: string;
}

/**
 * Every object a Crane redirect file sends clients to, as storage keys with what their
 * bytes must hash to when known, and problems found on the way.
 *
 * Version 1 files name v1 images (`<id>/{layer,json,ancestry}`). Version 3 files (the
 * `@v2.json` beside them) name schema 2 manifests by tag or digest under `url` +
 * `manifests/2/`: each must be there, a digest-named one must hash to its digest, a
 * tag-named one must be a schema 2 manifest whose own digest is stored too (raas writes
 * manifests by digest before by tag), and every blob a manifest names (its config and its
 * layers, except foreign layers, which carry `urls` to where another party serves them)
 * must be at `url` + `blobs/<digest>` and hash to that digest. `tags/list` must be there
 * and list every tag the file names (Crane redirects `/v2/<name>/tags/list` to it).
 */
async function references(world: World, text: string, objects: ReadonlyMap<string, string>, own: boolean): Promise<{ refs: Reference[]; problems: string[] }> {
  const refs: Reference[] = [];
  const problems: string[] = [];
  let file: { version?: number; url?: string; images?: { id: string }[]; schema2_data?: string[] };
  try {
    file = JSON.parse(text) as typeof file;
  } catch {
    return { refs, problems: ['is not valid JSON'] };
  }
  const url = file.url ?? '';
  // The ISV's own files must point into its store, or nothing they name would be checked.
  if (keyUnder(world, url, '') === undefined) return { refs, problems: own ? [`has url ${JSON.stringify(file.url)}, which is not the store's`] : [] };
  if (file.version === 1) {
    for (const { id } of file.images ?? []) {
      for (const kind of ['layer', 'json', 'ancestry']) {
        const key = keyUnder(world, url, `${id}/${kind}`);
        if (key) refs.push({ key, why: `image ${id}` });
      }
    }
    return { refs, problems };
  }
  if (file.version !== 3) return { refs, problems };
  const tags: string[] = [];
  for (const ref of file.schema2_data ?? []) {
    const key = keyUnder(world, url, `manifests/2/${ref}`);
    if (!key) continue;
    const byDigest = isDigest(ref);
    if (!byDigest) tags.push(ref);
    refs.push({ key, ...(byDigest ? { sha256: ref.slice(7) } : {}), why: `manifest ${ref}` });
    const stored = objects.get(key);
    if (stored === undefined || (byDigest && stored !== ref.slice(7))) continue; // reported as a missing or wrong reference
    if (!byDigest) {
      // The digest of the manifest a tag serves: stored under that digest too, with the same bytes.
      const own = keyUnder(world, url, `manifests/2/sha256:${stored}`);
      if (own) refs.push({ key: own, sha256: stored, why: `manifest of tag ${ref} by its digest` });
    }
    const manifest = (await parsedAt(world, key, stored)) as Schema2 | undefined;
    if (typeof manifest !== 'object' || manifest === null || manifest.schemaVersion !== 2 || manifest.mediaType !== SCHEMA2_TYPE || !Array.isArray(manifest.layers)) {
      problems.push(`names manifest ${ref}, but ${key} is not a Docker schema 2 manifest`);
      continue;
    }
    const blobs: { descriptor: Descriptor; what: string }[] = [
      { descriptor: manifest.config ?? {}, what: 'config' },
      ...(manifest.layers as Descriptor[]).map((descriptor, i) => ({ descriptor: descriptor ?? {}, what: `layer ${i}` })),
    ];
    for (const { descriptor, what } of blobs) {
      if (what !== 'config' && Array.isArray(descriptor.urls) && descriptor.urls.length > 0) continue; // a foreign layer: served elsewhere
      if (!isDigest(descriptor.digest)) {
        problems.push(`names manifest ${ref}, whose ${what} has no sha256 digest`);
        continue;
      }
      const blob = keyUnder(world, url, `blobs/${descriptor.digest}`);
      if (blob) refs.push({ key: blob, sha256: descriptor.digest.slice(7), why: `${what} of manifest ${ref}` });
    }
  }
  if (tags.length > 0) {
    const key = keyUnder(world, url, 'tags/list');
    const stored = key && objects.get(key);
    if (key && stored === undefined) problems.push(`names tags ${tags.join(', ')}, but ${key} is not in storage`);
    else if (key && stored) {
      refs.push({ key, why: 'tags/list' });
      const list = (await parsedAt(world, key, stored)) as { tags?: unknown } | undefined;
      const listed = new Set(Array.isArray(list?.tags) ? list.tags : []);
      const missing = tags.filter((tag) => !listed.has(tag));
      if (missing.length > 0) problems.push(`names tags ${missing.join(', ')}, which ${key} does not list`);
    }
  }
  return { refs, problems };
}

export interface Consistency {
  /** Deployed redirect files, by name. */
  readonly deployed: Map<string, string>;
  /** The configuration repository's backup (remote HEAD), by name. */
  readonly backup: Map<string, string>;
  readonly objects: Map<string, string>;
  /**
   * Objects no metadata references that hold other bytes than a complete push writes:
   * s3rver stores the part of a PUT body that arrived before the client died (it checks
   * neither Content-Length nor Content-MD5); S3 itself never makes such an object visible.
   */
  readonly incomplete: string[];
  /** Storage keys the deployed and backed-up files reference, every one checked. */
  readonly referenced: ReadonlySet<string>;
}

/**
 * The invariant of every fault: whatever the Crane app serves and the backup records is in
 * storage with the bytes a complete push writes (`expected`: key -> sha256), and
 * content-addressed objects (v2 blobs and manifests by digest) hash to their address. For
 * v2 that is every manifest a `@v2.json` names, every blob those manifests name, and the
 * tag list (see `references`). With `strict`, no object at all may
 * hold other bytes (the file store, whose writes are raas's own); otherwise unreferenced
 * ones are reported as `incomplete` (see there).
 */
export async function assertConsistent(world: World, expected: ReadonlyMap<string, string>, options: { strict?: boolean; isv?: string } = {}): Promise<Consistency> {
  const isv = options.isv ?? 'acme';
  const objects = visible(await objectDigests(world));
  const deployed = await metadataFiles(world.craneRemote, 'crane/data');
  const backup = await metadataFiles(world.configRemote, `${isv}/metadata`);
  const problems: string[] = [];
  const wrong = new Set<string>();
  for (const [key, digest] of objects) {
    const want = expected.get(key);
    const address = /\/v2\/(?:blobs|manifests\/2)\/sha256:([0-9a-f]{64})$/.exec(key)?.[1];
    if ((want !== undefined && want !== digest) || (address && address !== digest)) wrong.add(key);
  }
  const referenced = new Set<string>();
  for (const [where, files] of [['deployed', deployed], ['backup', backup]] as const) {
    for (const [name, text] of files) {
      const found = await references(world, text, objects, where === 'backup' || name.startsWith(`${isv}-`));
      for (const problem of found.problems) problems.push(`${where} ${name} ${problem}`);
      for (const { key, sha256, why } of found.refs) {
        referenced.add(key);
        if (!objects.has(key)) problems.push(`${where} ${name} references ${key} (${why}), which is not in storage`);
        else if (wrong.has(key) || (sha256 && objects.get(key) !== sha256)) problems.push(`${where} ${name} references ${key} (${why}), which holds other bytes than a complete push writes`);
      }
    }
  }
  const incomplete = [...wrong].filter((key) => !referenced.has(key));
  if (options.strict) for (const key of incomplete) problems.push(`${key} holds other bytes than a complete push writes`);
  if (problems.length) throw new Error(problems.join('\n'));
  return { deployed, backup, objects, incomplete, referenced };
}

export const sizeOf = async (file: string): Promise<number> => (await stat(file)).size;

// ----------------------------------------------------------------------------- HTTP servers with credentials

/**
 * Smart-HTTP git on loopback (git http-backend as CGI) in front of the bare repositories
 * under `root`, requiring Basic authentication with `user`/`password`: for Crane app
 * remotes whose URL carries credentials.
 */
export async function startGitHttp(t: TestContext, root: string, user: string, password: string): Promise<{ url(repo: string): string; requests: number }> {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="raas-test"' });
      return void res.end();
    }
    const url = new URL(req.url ?? '/', 'http://git');
    const cgi = spawn(REAL_GIT, ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.receivepack',
        GIT_CONFIG_VALUE_0: 'true',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (started) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      started = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [name, ...value] = line.split(':');
        if (name!.toLowerCase() === 'status') status = Number.parseInt(value.join(':').trim(), 10);
        else res.setHeader(name!, value.join(':').trim());
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
    cgi.on('error', () => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return {
    url: (repo) => `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${repo}`,
    get requests() {
      return requests;
    },
  };
}

/** Serves `file` at /<name> to clients that send Basic `user`/`password`. */
export async function startFileHttp(t: TestContext, file: string, user: string, password: string): Promise<{ url(name: string): string }> {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const server = http.createServer(async (req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="raas-test"' });
      return void res.end();
    }
    if (!req.url?.endsWith('.tar')) {
      res.writeHead(404);
      return void res.end();
    }
    const body = await readFile(file);
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/x-tar' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return { url: (name) => `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${name}` };
}

// ----------------------------------------------------------------------------- archives

export interface PulpArchive {
  readonly file: string;
  readonly image: string;
  readonly tag: string;
  /** v1 ids, base first. */
  readonly ids: readonly string[];
  /** v1 object key -> sha256 of the bytes a complete push writes. */
  readonly objects: ReadonlyMap<string, string>;
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** A Pulp export of a fresh chain of random layers (sizes in bytes), and the v1 objects raas must write for it. */
export async function pulpArchive(dir: string, options: { image?: string; tag: string; layers: readonly number[] }): Promise<PulpArchive> {
  const image = options.image ?? 'acme/app';
  const flat = image.replace('/', '-');
  const images = pulpChain(options.layers.map((n) => randomLayer(n)));
  const file = path.join(dir, `${flat}-${options.tag}.tar`);
  await writePulpExport(file, { repoId: flat, registryId: image, images, tags: { [options.tag]: images.at(-1)!.id } });
  const objects = new Map<string, string>();
  images.forEach((v1, i) => {
    objects.set(`${flat}/${v1.id}/layer`, sha256(v1.layer));
    objects.set(`${flat}/${v1.id}/json`, sha256(json({ id: v1.id, parent: v1.parent, created: '2015-01-01T00:00:00Z' })));
    objects.set(`${flat}/${v1.id}/ancestry`, sha256(json(images.slice(0, i + 1).map((x) => x.id).reverse())));
  });
  return { file, image, tag: options.tag, ids: images.map((i) => i.id), objects };
}
