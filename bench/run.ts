/**
 * `npm run bench`: how raas push and raas status perform against the AWS CLI, on one machine.
 *
 * 1. Writes synthetic Pulp exports (bench/exports.ts) with the same files extracted:
 *    (a) 8 layers × 64 MiB, (b) 400 layers × 64 KiB, (c) one 1 GiB layer, all incompressible.
 * 2. Starts s3rver on 127.0.0.1 in a process of its own (bench/s3-server.ts).
 * 3. Per case and round: `raas push` to S3, `aws s3 cp --recursive` of the extracted files to
 *    the same server (the two alternate who goes first), and `raas push` to a file store;
 *    every run writes into a fresh bucket or directory. Wall time, peak RSS and CPU time
 *    come from /usr/bin/time -v; the server's CPU time from /proc.
 * 4. Pushes (a) again, unchanged, after each of its first pushes.
 * 5. Publishes 200 images × 10 layers (untimed), then times `raas status` of them all.
 * Prints the table on stdout and writes it, with the machine, the versions and the date, to
 * BENCHMARKS.md. A missed target gets a CPU profile of one raas run (bench/profile.ts).
 *
 * Options: --rounds <n> (default 3), --cases a,b,c,status (a subset prints its table and
 * writes BENCHMARKS.md only with --output), --output <file>, --no-build (measure dist/ as
 * it is), --no-profile (skip profiling misses).
 * Everything generated lives in one temporary directory, removed on exit and on Ctrl-C.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, S3Client, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { CRANE_CONFIG_FILE, craneConfigText } from '../src/crane/config-file.ts';
import { DEFAULT_DATA_DIR } from '../src/crane/deploy.ts';
import { startCraneServer } from '../src/serve/server.ts';
import { git, makeBareRepo } from '../test/helpers/git.ts';
import { S3RVER_CREDENTIALS } from '../test/helpers/s3.ts';
import { writeExport, type ExportCase, type WrittenExport } from './exports.ts';
import { formatProfile, summarizeProfile } from './profile.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RAAS_BIN = path.join(ROOT, 'bin', 'raas');
const AWS = '/usr/bin/aws';
const TIME = '/usr/bin/time';
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// What is measured, and what it must reach

interface BenchCase extends ExportCase {
  readonly key: 'a' | 'b' | 'c';
  readonly label: string;
  /** Target for raas push time / aws s3 cp time. */
  readonly maxRatio: number;
  /** Push again, unchanged, after each first push. */
  readonly repush: boolean;
}

// Image names are bench/<name>, which is what the export's redirect file calls them.
// Docker refused chains deeper than 127 layers, so (b) is 4 tagged chains of 100.
const CASES: readonly BenchCase[] = [
  { key: 'a', label: '(a) 8 layers × 64 MiB', name: 'a-8x64mib', chains: 1, layersPerChain: 8, layerBytes: 64 * MiB, maxRatio: 0.9, repush: true },
  { key: 'b', label: '(b) 400 layers × 64 KiB', name: 'b-400x64kib', chains: 4, layersPerChain: 100, layerBytes: 64 * 1024, maxRatio: 0.9, repush: false },
  { key: 'c', label: '(c) 1 layer × 1 GiB', name: 'c-1x1gib', chains: 1, layersPerChain: 1, layerBytes: 1024 * MiB, maxRatio: 1.0, repush: false },
];

const TARGETS = {
  repushRatio: 0.05,
  peakRssMiB: 200,
  statusSeconds: 5,
} as const;

const STATUS_IMAGES = 200;
const STATUS_LAYERS = 10;
const STATUS_LAYER_BYTES = 4096;
const STATUS_RUNS = 3;
/** Pushes at a time while publishing the status images (untimed). */
const STATUS_PUSHERS = 2;

// ---------------------------------------------------------------------------------------
// Small utilities

const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const mib = (kib: number): string => `${Math.round(kib / 1024)} MiB`;
const ratio = (x: number): string => x.toFixed(2);

function sizeText(bytes: number): string {
  if (bytes >= 1024 * MiB) return `${(bytes / 1024 / MiB).toFixed(bytes % (1024 * MiB) === 0 ? 0 : 1)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(0)} MiB`;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

// ---------------------------------------------------------------------------------------
// Preflight: the tools the comparison needs, and a build of the sources being measured

function preflight(build: boolean): void {
  const missing: string[] = [];
  if (!existsSync(AWS)) missing.push(`${AWS} (the AWS CLI): sudo apt-get update && sudo apt-get install -y awscli`);
  if (!existsSync(TIME)) missing.push(`${TIME} (GNU time, for peak RSS): sudo apt-get install -y time`);
  if (spawnSync('git', ['--version']).status !== 0) missing.push('git: sudo apt-get install -y git');
  if (missing.length > 0) {
    // Debian's awscli is called by its full path: a pyenv or pip shim named `aws` may come first on PATH.
    throw new Error(`missing tools:\n  ${missing.join('\n  ')}`);
  }
  if (build) {
    // dist/ is what bin/raas runs: build it so the numbers belong to these sources.
    log('building dist/ (npm run build)');
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (built.status !== 0) throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
  } else if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run npm install (or npm run build) first');
  }
}

// ---------------------------------------------------------------------------------------
// Processes: one child at a time is measured; every child is stopped on Ctrl-C

const running = new Set<ChildProcess>();

/**
 * Stop every running child and what it started: each runs in a process group of its own,
 * because /usr/bin/time does not pass signals on to the command it measures. SIGINT lets
 * raas abort its uploads as on Ctrl-C; whatever is left after a few seconds is killed.
 */
async function stopChildren(): Promise<void> {
  const children = [...running];
  const group = (child: ChildProcess, signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  for (const child of children) group(child, 'SIGINT');
  const deadline = Date.now() + 5000;
  while (running.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const child of children) group(child, 'SIGKILL');
}

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (error) => {
      running.delete(child);
      reject(error);
    });
    child.on('close', (code) => {
      running.delete(child);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/** What one measured run cost. */
interface Measured {
  /** Date.now() when the command was started. */
  readonly startedAt: number;
  readonly wallMs: number;
  readonly maxRssKiB: number;
  /** User + system CPU time of the command (and the children it waited for). */
  readonly cpuMs: number;
  /** CPU time s3rver spent meanwhile. */
  readonly serverCpuMs: number;
  readonly stdout: string;
}

/**
 * Run a command under /usr/bin/time -v: its report (peak RSS, CPU) goes to a file so it
 * does not mix with the command's own stderr. Wall time is taken here, around the spawn.
 */
async function measure(bench: Bench, what: string, command: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Measured> {
  const report = path.join(bench.dir, 'time.txt');
  const serverBefore = bench.s3.cpuMs();
  const startedAt = Date.now();
  const started = performance.now();
  const done = await run(TIME, ['-v', '-o', report, ...command], options);
  const wallMs = performance.now() - started;
  const serverCpuMs = bench.s3.cpuMs() - serverBefore;
  if (done.code !== 0) {
    const tail = `${done.stdout}\n${done.stderr}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${what} failed (exit ${done.code}):\n${tail}`);
  }
  const text = await readFile(report, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`${name}: ([0-9.]+)`).exec(text);
    if (!match) throw new Error(`no "${name}" in the report of ${TIME} -v:\n${text}`);
    return Number(match[1]);
  };
  return {
    startedAt,
    wallMs,
    maxRssKiB: field('Maximum resident set size \\(kbytes\\)'),
    cpuMs: (field('User time \\(seconds\\)') + field('System time \\(seconds\\)')) * 1000,
    serverCpuMs,
    stdout: done.stdout,
  };
}

// ---------------------------------------------------------------------------------------
// The installation: s3rver, a configuration repository, Crane app remotes

interface S3Process {
  readonly endpoint: string;
  readonly client: S3Client;
  /** CPU time (user + system) the server process has used so far. */
  cpuMs(): number;
  stop(): Promise<void>;
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * bench/s3-server.ts in its own process group (so Ctrl-C reaches us first and we stop it in
 * order) and with TMPDIR in the bench directory, so even a server killed outright leaves
 * its objects where our cleanup removes them.
 */
async function startS3Process(env: NodeJS.ProcessEnv): Promise<S3Process> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench', 's3-server.ts')], {
    cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true,
  });
  // s3rver's own chatter (winston complaining it has no transports) is kept out of the
  // bench's output, but its last lines explain a server that died.
  let stderrTail = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString()).slice(-4000);
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const first = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(line));
    child.once('exit', (code) => reject(new Error(`bench/s3-server.ts exited (${code}) before printing its endpoint:\n${stderrTail}`)));
  });
  const { endpoint } = JSON.parse(first) as { endpoint: string };
  child.once('exit', (code, signal) => {
    if (!stopping) log(`s3rver exited (${code ?? signal}) in the middle of the bench:\n${stderrTail}`);
  });
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  return {
    endpoint,
    client,
    cpuMs() {
      // /proc/<pid>/stat: the fields after "(comm)" start at state; utime and stime are the 12th and 13th of them.
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
    },
    async stop() {
      stopping = true;
      client.destroy();
      child.stdin!.end();
      const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}

interface Bench {
  readonly dir: string;
  readonly s3: S3Process;
  /** The configuration repository's working copy: raas runs here and reads its raas.cfg. */
  readonly configDir: string;
  /** Environment for raas: the bench's AWS credentials, git identity and temp directory. */
  readonly raasEnv: NodeJS.ProcessEnv;
  readonly awsEnv: NodeJS.ProcessEnv;
  /** Profile one more raas run for each missed target. */
  readonly profile: boolean;
  /** A new name for a bucket, directory or repository. */
  fresh(prefix: string): string;
}

/**
 * The environment every child gets: none of the user's AWS or raas settings (so neither a
 * profile nor ~/.aws/config changes what is measured), the s3rver credentials, a git
 * identity for raas's commits, and TMPDIR inside the bench directory.
 */
function childEnv(dir: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('RAAS_')));
  const awsConfig = path.join(dir, 'aws-config');
  // The AWS CLI addresses buckets path-style, as raas does with force_path_style.
  writeFileSync(awsConfig, '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
  return {
    ...env,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: awsConfig,
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'aws-credentials-none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    GIT_AUTHOR_NAME: 'raas bench', GIT_AUTHOR_EMAIL: 'bench@raas.invalid',
    GIT_COMMITTER_NAME: 'raas bench', GIT_COMMITTER_EMAIL: 'bench@raas.invalid',
    TMPDIR: path.join(dir, 'tmp'),
  };
}

/**
 * One raas.cfg for every run: the bucket, the storage directory and the Crane app remote
 * come from the environment (${BENCH_*}), so each run gets fresh ones without a new
 * configuration commit. ISV `bs3` stores in S3, `bfile` in a directory; both deploy to a
 * bare git repository as the Crane app (platform git), as the tests do.
 */
function raasCfg(endpoint: string): string {
  return [
    '[aws]',
    `endpoint = ${endpoint}`,
    'force_path_style = true',
    'region = us-east-1',
    'access_key_id = ${AWS_ACCESS_KEY_ID}',
    'secret_access_key = ${AWS_SECRET_ACCESS_KEY}',
    '',
    '[bs3]',
    'storage = s3',
    's3_bucket = ${BENCH_BUCKET}',
    'platform = git',
    'app_remote = ${BENCH_CRANE}',
    'registry_url = ${BENCH_REGISTRY:-http://registry.bench.invalid:5000}',
    '',
    '[bfile]',
    'storage = file',
    'storage_dir = ${BENCH_DIR}',
    'platform = git',
    'app_remote = ${BENCH_CRANE}',
    'registry_url = http://registry.bench.invalid:5000',
    '',
  ].join('\n');
}

async function makeBench(dir: string, profile: boolean): Promise<Bench> {
  const env = childEnv(dir);
  await mkdir(env.TMPDIR!, { recursive: true });
  const s3 = await startS3Process(env);
  const configRemote = await makeBareRepo(path.join(dir, 'config.git'), { files: { 'raas.cfg': raasCfg(s3.endpoint) } });
  const configDir = path.join(dir, 'config');
  await git(dir, 'clone', '-q', configRemote, configDir);
  let counter = 0;
  return {
    dir, s3, configDir,
    // Placeholders so raas.cfg always resolves; each run sets the ones it uses.
    raasEnv: { ...env, BENCH_BUCKET: 'unused', BENCH_DIR: path.join(dir, 'unused'), BENCH_CRANE: path.join(dir, 'unused.git') },
    awsEnv: env,
    profile,
    fresh: (prefix) => `${prefix}-${++counter}`,
  };
}

async function createBucket(bench: Bench, name: string): Promise<string> {
  await bench.s3.client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Empty and delete a bucket, so s3rver's disk use stays at one run's worth. */
async function deleteBucket(bench: Bench, bucket: string): Promise<void> {
  const { client } = bench.s3;
  for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    for (let i = 0; i < keys.length; i += 1000) {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000), Quiet: true } }));
    }
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

// ---------------------------------------------------------------------------------------
// The three tools being compared

type Tool = 'raas-s3' | 'raas-file' | 'aws';

/** Where one run writes: a fresh bucket (or directory) and a fresh Crane app remote. */
interface Target {
  readonly tool: Tool;
  readonly bucket: string | undefined;
  readonly storeDir: string | undefined;
  readonly crane: string | undefined;
}

async function freshTarget(bench: Bench, tool: Tool): Promise<Target> {
  const name = bench.fresh(tool);
  if (tool === 'raas-file') {
    const storeDir = path.join(bench.dir, 'stores', name);
    await mkdir(storeDir, { recursive: true });
    return { tool, bucket: undefined, storeDir, crane: await makeBareRepo(path.join(bench.dir, 'crane', `${name}.git`)) };
  }
  const bucket = await createBucket(bench, name);
  return { tool, bucket, storeDir: undefined, crane: tool === 'aws' ? undefined : await makeBareRepo(path.join(bench.dir, 'crane', `${name}.git`)) };
}

async function removeTarget(bench: Bench, target: Target): Promise<void> {
  if (target.bucket) await deleteBucket(bench, target.bucket);
  if (target.storeDir) await rm(target.storeDir, { recursive: true, force: true });
}

/** The environment that points raas.cfg's ${BENCH_*} at a target. */
function targetEnv(bench: Bench, target: Target, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...bench.raasEnv,
    ...(target.bucket ? { BENCH_BUCKET: target.bucket } : {}),
    ...(target.storeDir ? { BENCH_DIR: target.storeDir } : {}),
    ...(target.crane ? { BENCH_CRANE: target.crane } : {}),
    ...extra,
  };
}

/** raas as a user runs it, from the configuration repository; `-l warn` keeps the bench's output readable. */
function raasCommand(args: readonly string[], nodeFlags: readonly string[] = []): string[] {
  return [process.execPath, ...nodeFlags, RAAS_BIN, '-l', 'warn', ...args];
}

function pushArgs(target: Target, spec: BenchCase, archive: string): string[] {
  return ['push', target.tool === 'raas-s3' ? 'bs3' : 'bfile', `bench/${spec.name}`, '--file', archive];
}

/** One timed run of `tool` into `target`. */
function runTool(bench: Bench, target: Target, spec: BenchCase, written: WrittenExport): Promise<Measured> {
  if (target.tool === 'aws') {
    // The files as raas lays them out (<app>/<id>/{json,ancestry,layer}); default settings, no progress output.
    const command = [AWS, 's3', 'cp', '--recursive', '--only-show-errors', '--no-progress', '--endpoint-url', bench.s3.endpoint, written.extracted, `s3://${target.bucket}/bench-${spec.name}/`];
    return measure(bench, `aws s3 cp (${spec.label})`, command, { env: bench.awsEnv });
  }
  return measure(bench, `raas push (${spec.label}, ${target.tool})`, raasCommand(pushArgs(target, spec, written.archive)), { cwd: bench.configDir, env: targetEnv(bench, target) });
}

// ---------------------------------------------------------------------------------------
// Steps 1, 3, 4: the push cases

interface CaseResult {
  readonly spec: BenchCase;
  readonly objects: number;
  readonly bytes: number;
  readonly runs: Record<Tool, Measured[]>;
  /** Re-push of an unchanged image, per store, with the first push it repeats. */
  readonly repush: Partial<Record<Tool, { first: Measured; again: Measured }[]>>;
  readonly profiles: ProfileNote[];
}

interface ProfileNote {
  readonly what: string;
  readonly wallMs: number;
  readonly serverCpuMs: number;
  readonly summary: string;
  /** Milestones from raas's run log. */
  readonly timeline: string;
}

/** The order of a round: raas and aws alternate who goes first, the file store follows. */
const roundOrder = (round: number): Tool[] => (round % 2 === 1 ? ['raas-s3', 'aws', 'raas-file'] : ['aws', 'raas-s3', 'raas-file']);

async function benchCase(bench: Bench, spec: BenchCase, rounds: number): Promise<CaseResult> {
  const caseDir = path.join(bench.dir, 'exports', spec.name);
  await mkdir(caseDir, { recursive: true });
  log(`${spec.label}: writing the export and the same files extracted`);
  const written = writeExport(caseDir, spec);
  const runs: Record<Tool, Measured[]> = { 'raas-s3': [], 'raas-file': [], aws: [] };
  const repush: CaseResult['repush'] = {};
  for (let round = 1; round <= rounds; round++) {
    for (const tool of roundOrder(round)) {
      const target = await freshTarget(bench, tool);
      const m = await runTool(bench, target, spec, written);
      runs[tool].push(m);
      log(`${spec.label} round ${round}/${rounds} ${tool}: ${seconds(m.wallMs)}, peak RSS ${mib(m.maxRssKiB)}, CPU ${seconds(m.cpuMs)}, s3rver CPU ${seconds(m.serverCpuMs)}`);
      if (spec.repush && tool !== 'aws') {
        const again = await runTool(bench, target, spec, written);
        (repush[tool] ??= []).push({ first: m, again });
        log(`${spec.label} round ${round}/${rounds} ${tool} again, unchanged: ${seconds(again.wallMs)} (${ratio(again.wallMs / m.wallMs)} of the first), peak RSS ${mib(again.maxRssKiB)}`);
      }
      await removeTarget(bench, target);
    }
  }
  const result: CaseResult = { spec, objects: written.objects, bytes: written.bytes, runs, repush, profiles: [] };
  // Profile while the export is still on disk: one raas run for each target this case missed.
  for (const miss of bench.profile ? caseMisses(result) : []) result.profiles.push(await profileRun(bench, spec, written, miss));
  await rm(caseDir, { recursive: true, force: true });
  return result;
}

const wall = (ms: readonly Measured[]): number => median(ms.map((m) => m.wallMs));
const peakRss = (ms: readonly Measured[]): number => Math.max(...ms.map((m) => m.maxRssKiB));

/** A raas run that missed a target, to profile. */
interface Miss {
  readonly tool: 'raas-s3' | 'raas-file';
  readonly repush: boolean;
  readonly why: string;
}

function caseMisses(result: CaseResult): Miss[] {
  const misses: Miss[] = [];
  const aws = wall(result.runs.aws);
  for (const tool of ['raas-s3', 'raas-file'] as const) {
    const reasons: string[] = [];
    const r = wall(result.runs[tool]) / aws;
    if (r > result.spec.maxRatio) reasons.push(`${ratio(r)} × aws s3 cp (target ≤ ${result.spec.maxRatio})`);
    const rss = peakRss([...result.runs[tool], ...(result.repush[tool] ?? []).map((p) => p.again)]) / 1024;
    if (rss > TARGETS.peakRssMiB) reasons.push(`peak RSS ${rss.toFixed(0)} MiB (target ≤ ${TARGETS.peakRssMiB} MiB)`);
    if (reasons.length > 0) misses.push({ tool, repush: false, why: reasons.join(', ') });
    const again = repushRatio(result, tool);
    if (again !== undefined && again > TARGETS.repushRatio) misses.push({ tool, repush: true, why: `re-push ${ratio(again)} × the first push (target ≤ ${TARGETS.repushRatio})` });
  }
  return misses;
}

function repushRatio(result: CaseResult, tool: Tool): number | undefined {
  const pairs = result.repush[tool];
  return pairs && pairs.length > 0 ? median(pairs.map((p) => p.again.wallMs / p.first.wallMs)) : undefined;
}

/**
 * One more raas run under `node --cpu-prof`, summarized by bench/profile.ts: self time per
 * source, where "(idle)" is time raas waited (on s3rver, the disk or git). The server's CPU
 * time in the same run says how much of that wait s3rver was busy.
 */
async function profileRun(bench: Bench, spec: BenchCase, written: WrittenExport, miss: Miss): Promise<ProfileNote> {
  const what = `raas push ${spec.label} to the ${miss.tool === 'raas-s3' ? 'S3' : 'file'} store${miss.repush ? ', pushed again unchanged' : ''}`;
  log(`profiling ${what}: ${miss.why}`);
  const target = await freshTarget(bench, miss.tool);
  try {
    if (miss.repush) await runTool(bench, target, spec, written);
    const profileDir = path.join(bench.dir, 'profiles', bench.fresh('cpu'));
    const command = raasCommand(pushArgs(target, spec, written.archive), ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
    const m = await measure(bench, `profiled ${what}`, command, { cwd: bench.configDir, env: targetEnv(bench, target) });
    const isv = miss.tool === 'raas-s3' ? 'bs3' : 'bfile';
    return { what: `${what} (${miss.why})`, wallMs: m.wallMs, serverCpuMs: m.serverCpuMs, summary: summarizeProfileDir(profileDir), timeline: await runTimeline(bench, isv, m) };
  } finally {
    await removeTarget(bench, target);
  }
}

/**
 * The milestones of a push, from the run log raas commits to the configuration repository
 * (<isv>/logs/<date>.log, JSON lines): each info message at its time since the process
 * started, with the per-object messages (they carry a key) folded into one span.
 */
async function runTimeline(bench: Bench, isv: string, m: Measured): Promise<string> {
  const logs = path.join(bench.configDir, isv, 'logs');
  const newest = existsSync(logs) ? readdirSync(logs).sort().at(-1) : undefined;
  if (!newest) return '(no run log)';
  const lines = (await readFile(path.join(logs, newest), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; time: number; msg: string; key?: string });
  const events = lines.slice(lines.findLastIndex((l) => l.msg === 'raas push'));
  const at = (time: number): string => `+${((time - m.startedAt) / 1000).toFixed(2)} s`;
  const out: string[] = [];
  let objects: { first: number; last: number; count: number } | undefined;
  const flush = (): void => {
    if (objects) out.push(`${at(objects.first)} to ${at(objects.last)} ${objects.count} objects stored (first and last done)`);
    objects = undefined;
  };
  for (const e of events) {
    if (e.key !== undefined || /^(Uploaded|Copied|Stored|Wrote) /.test(e.msg)) {
      objects = objects ? { ...objects, last: e.time, count: objects.count + (e.level >= 30 ? 1 : 0) } : { first: e.time, last: e.time, count: e.level >= 30 ? 1 : 0 };
    } else if (e.level >= 30 || e.msg === 'raas push') {
      flush();
      out.push(`${at(e.time)} ${e.msg.length > 90 ? `${e.msg.slice(0, 87)}...` : e.msg}`);
    }
  }
  flush();
  out.push(`+${(m.wallMs / 1000).toFixed(2)} s exit (after the backup commit)`);
  return out.join('; ');
}

function summarizeProfileDir(dir: string): string {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return '(no profile written)';
  const bySource = formatProfile(summarizeProfile(path.join(dir, file), 10));
  return `${bySource}. By the raas function on the stack (its own time and what it calls, e.g. hashing): ${raasCallers(path.join(dir, file))}`;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

/**
 * bench/profile.ts says which code ran (node:internal/crypto/hash, an SDK package); this
 * says on whose behalf: each sample goes to the innermost raas function on its stack, so
 * hashing shows under the raas function that hashes. Samples with no raas frame keep their
 * own name ((idle), (garbage collector), node's startup).
 */
function raasCallers(file: string, top = 8): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const own = (n: ProfileNode): string | undefined => {
    const { url } = n.callFrame;
    const module = url.includes('/node_modules/') ? undefined : /\/(?:dist|src)\/(.+?)\.[jt]s$/.exec(url)?.[1];
    return module === undefined ? undefined : `${module} ${n.callFrame.functionName || '(anonymous)'}`;
  };
  const label = new Map<number, string>();
  const labelOf = (id: number): string => {
    const known = label.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    const up = parent.get(id);
    const name = own(n) ?? (up !== undefined && byId.get(up)!.callFrame.functionName !== '(root)' ? labelOf(up) : n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : 'no raas caller (start-up, stream and socket callbacks)');
    label.set(id, name);
    return name;
  };
  const totals = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    totals.set(labelOf(id), (totals.get(labelOf(id)) ?? 0) + us);
    all += us;
  });
  return [...totals].sort((x, y) => y[1] - x[1]).slice(0, top).map(([name, us]) => `${name} ${((us / all) * 100).toFixed(0)}%`).join(', ');
}

// ---------------------------------------------------------------------------------------
// Step 5: raas status of 200 images × 10 layers

interface StatusResult {
  readonly runs: Measured[];
  readonly setupMs: number;
  /** Publishing pushes that failed and were run again. */
  readonly reruns: string[];
  /** What one status run checked, from its --json report. */
  readonly checks: Record<string, number>;
  readonly outcome: Record<string, number>;
  /** Checks that were not ok, as "check subject: detail". */
  readonly notOk: string[];
  readonly profile: ProfileNote | undefined;
}

/**
 * Publishes the images with raas push (untimed, with their backups, as operators would over
 * time), then serves the deployed metadata with raas's Crane-compatible server so status
 * checks everything: storage listings, lint, backups, and each tag through the registry's
 * redirects.
 */
async function benchStatus(bench: Bench): Promise<StatusResult> {
  const bucket = await createBucket(bench, 'status');
  // The Crane app as raas setup leaves it: a crane.conf pointing Crane at the data directory.
  const crane = await makeBareRepo(path.join(bench.dir, 'crane', 'status.git'), { files: { [CRANE_CONFIG_FILE]: craneConfigText('git', DEFAULT_DATA_DIR) } });
  const target: Target = { tool: 'raas-s3', bucket, storeDir: undefined, crane };
  log(`status: publishing ${STATUS_IMAGES} images × ${STATUS_LAYERS} layers (not timed)`);
  const started = performance.now();
  const reruns = await publishStatusImages(bench, target);
  const setupMs = performance.now() - started;

  // The registry: the Crane app's deployed data, served from a checkout (read once, at start).
  const served = path.join(bench.dir, 'crane-served');
  await git(bench.dir, 'clone', '-q', crane, served);
  const registry = await startCraneServer({ dataDir: path.join(served, DEFAULT_DATA_DIR), host: '127.0.0.1' });
  try {
    const env = targetEnv(bench, target, { BENCH_REGISTRY: registry.url });
    const args = ['--no-commit', '--json', 'status', 'bs3'];
    const runs: Measured[] = [];
    for (let i = 1; i <= STATUS_RUNS; i++) {
      const m = await measure(bench, 'raas status', raasCommand(args), { cwd: bench.configDir, env });
      runs.push(m);
      log(`status run ${i}/${STATUS_RUNS}: ${seconds(m.wallMs)}, peak RSS ${mib(m.maxRssKiB)}`);
    }
    const report = JSON.parse(runs[0]!.stdout) as { ok: boolean; summary: Record<string, number>; checks: { check: string; subject: string; outcome: string; detail: string }[] };
    if (!report.ok) throw new Error(`raas status found problems: ${JSON.stringify(report.summary)}`);
    const checks: Record<string, number> = {};
    for (const c of report.checks) checks[c.check] = (checks[c.check] ?? 0) + 1;
    let profile: ProfileNote | undefined;
    if (bench.profile && wall(runs) > TARGETS.statusSeconds * 1000) {
      log('profiling raas status: it missed its target');
      const profileDir = path.join(bench.dir, 'profiles', 'status');
      const m = await measure(bench, 'profiled raas status', raasCommand(args, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]), { cwd: bench.configDir, env });
      profile = { what: `raas status of ${STATUS_IMAGES} images (${seconds(wall(runs))}, target ≤ ${TARGETS.statusSeconds} s)`, wallMs: m.wallMs, serverCpuMs: m.serverCpuMs, summary: summarizeProfileDir(profileDir), timeline: '' };
    }
    const notOk = report.checks.filter((c) => c.outcome !== 'ok').map((c) => `${c.check} ${c.subject}: ${c.outcome}: ${c.detail}`);
    return { runs, setupMs, reruns, checks, outcome: report.summary, notOk, profile };
  } finally {
    await registry.close();
  }
}

/**
 * A push that failed (exit 1) is run again, as raas's message says to (nothing was
 * half-published): raas gives up when the other push keeps winning the race to the Crane
 * app. Returns why each failed attempt failed, for the report.
 */
async function pushWithReruns(bench: Bench, target: Target, name: string, archive: string): Promise<string[]> {
  const failures: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const pushed = await run(process.execPath, [RAAS_BIN, '-l', 'warn', 'push', 'bs3', `bench/${name}`, '--file', archive], { cwd: bench.configDir, env: targetEnv(bench, target) });
    if (pushed.code === 0) return failures;
    const why = pushed.stderr.trim().split('\n')[0] ?? '';
    if (pushed.code !== 1 || attempt === 3) throw new Error(`raas push of status image ${name} failed (exit ${pushed.code}):\n${pushed.stderr}`);
    failures.push(`${name}: ${why}`);
    log(`status: raas push of ${name} failed (${why}); running it again`);
  }
}

/**
 * Two pushes at a time: a push of a small image is mostly process start-up and git, so two
 * overlap well on two cores. Both run in the one working copy of the configuration
 * repository, whose lock takes their backups in turn; their Crane deployments race, and
 * raas catches up and retries when the other pushed first. (From two working copies, the
 * backups race too: with raas's 6 attempts then, 4 of 200 pushes gave up in one run.)
 */
async function publishStatusImages(bench: Bench, target: Target): Promise<string[]> {
  const workers = STATUS_PUSHERS;
  const reruns: string[] = [];
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    const exportsDir = path.join(bench.dir, 'exports', `status-${w}`);
    await mkdir(exportsDir, { recursive: true });
    while (next < STATUS_IMAGES) {
      const name = `s${String(++next).padStart(3, '0')}`;
      const written = writeExport(exportsDir, { name, chains: 1, layersPerChain: STATUS_LAYERS, layerBytes: STATUS_LAYER_BYTES });
      reruns.push(...(await pushWithReruns(bench, target, name, written.archive)));
      await rm(exportsDir, { recursive: true, force: true });
      await mkdir(exportsDir);
      if (++done % 20 === 0) log(`status: ${done}/${STATUS_IMAGES} published`);
    }
  }));
  return reruns;
}

// ---------------------------------------------------------------------------------------
// The report

interface Environment {
  readonly date: string;
  readonly cpu: string;
  readonly os: string;
  readonly node: string;
  readonly raas: string;
  readonly aws: string;
  readonly s3rver: string;
  readonly rounds: number;
}

function describeEnvironment(rounds: number): Environment {
  const cpus = os.cpus();
  const release = existsSync('/etc/os-release') ? /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] : undefined;
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  // Uncommitted changes to what is built or run change what was measured: say so.
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src', 'bin', 'package-lock.json'], { cwd: ROOT, encoding: 'utf8' }).stdout
    .split('\n').filter(Boolean).map((line) => line.slice(3));
  const aws = spawnSync(AWS, ['--version'], { encoding: 'utf8', env: { ...process.env, AWS_CONFIG_FILE: '/dev/null' } });
  const s3rver = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 's3rver', 'package.json'), 'utf8')) as { version: string };
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
    os: `${release ?? os.type()}, Linux ${os.release()}`,
    node: process.version,
    raas: `${head}${dirty.length > 0 ? ` with uncommitted changes to ${dirty.join(', ')}` : ''}`,
    aws: `${(aws.stdout || aws.stderr).trim().split(' ')[0]} (${AWS})`,
    s3rver: s3rver.version,
    rounds,
  };
}

interface Verdict {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

function verdicts(cases: readonly CaseResult[], status: StatusResult | undefined): Verdict[] {
  const out: Verdict[] = [];
  for (const c of cases) {
    const aws = wall(c.runs.aws);
    for (const [tool, store] of [['raas-s3', 'S3'], ['raas-file', 'file store']] as const) {
      const r = wall(c.runs[tool]) / aws;
      out.push({ target: `${c.spec.label}: raas push (${store}) ≤ ${c.spec.maxRatio} × aws s3 cp`, measured: `${ratio(r)} ×`, met: r <= c.spec.maxRatio });
    }
  }
  for (const c of cases) {
    for (const [tool, store] of [['raas-s3', 'S3'], ['raas-file', 'file store']] as const) {
      const again = repushRatio(c, tool);
      if (again !== undefined) out.push({ target: `${c.spec.label}: re-push unchanged (${store}) ≤ ${TARGETS.repushRatio} × first push`, measured: `${ratio(again)} ×`, met: again <= TARGETS.repushRatio });
    }
  }
  const rssRuns = [
    ...cases.flatMap((c) => [...c.runs['raas-s3'], ...c.runs['raas-file'], ...Object.values(c.repush).flat().map((p) => p.again)]),
    ...(status?.runs ?? []),
  ];
  if (rssRuns.length > 0) {
    const worst = peakRss(rssRuns) / 1024;
    out.push({ target: `peak RSS of raas ≤ ${TARGETS.peakRssMiB} MiB in every run`, measured: `${worst.toFixed(0)} MiB at most`, met: worst <= TARGETS.peakRssMiB });
  }
  if (status) {
    const s = wall(status.runs) / 1000;
    out.push({ target: `raas status, ${STATUS_IMAGES} images × ${STATUS_LAYERS} layers ≤ ${TARGETS.statusSeconds} s`, measured: `${s.toFixed(2)} s`, met: s <= TARGETS.statusSeconds });
  }
  return out;
}

function resultsTable(cases: readonly CaseResult[], status: StatusResult | undefined): string {
  const rows = [
    '| case | data | raas push, S3 | raas push, file store | aws s3 cp | raas S3 / aws | raas file / aws | raas peak RSS |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of cases) {
    const aws = wall(c.runs.aws);
    const s3 = wall(c.runs['raas-s3']);
    const file = wall(c.runs['raas-file']);
    const rss = peakRss([...c.runs['raas-s3'], ...c.runs['raas-file']]);
    rows.push(`| ${c.spec.label} | ${sizeText(c.bytes)} in ${c.objects} files | ${seconds(s3)} | ${seconds(file)} | ${seconds(aws)} | ${ratio(s3 / aws)} | ${ratio(file / aws)} | ${mib(rss)} |`);
  }
  for (const c of cases) {
    const s3 = c.repush['raas-s3'];
    const file = c.repush['raas-file'];
    if (!s3 || !file) continue;
    const again = (pairs: { again: Measured }[]) => wall(pairs.map((p) => p.again));
    rows.push(`| ${c.spec.label}, pushed again unchanged | ratio to the first push | ${seconds(again(s3))} (${ratio(repushRatio(c, 'raas-s3')!)} ×) | ${seconds(again(file))} (${ratio(repushRatio(c, 'raas-file')!)} ×) | | | | ${mib(peakRss([...s3, ...file].map((p) => p.again)))} |`);
  }
  if (status) {
    rows.push(`| raas status, ${STATUS_IMAGES} images × ${STATUS_LAYERS} layers | ${STATUS_IMAGES * STATUS_LAYERS * 3} v1 objects | ${seconds(wall(status.runs))} | | | | | ${mib(peakRss(status.runs))} |`);
  }
  return rows.join('\n');
}

/** CPU time of each tool and of s3rver during it: where the wall time of the S3 runs went. */
function cpuTable(cases: readonly CaseResult[]): string {
  const rows = [
    '| case | tool | wall | tool CPU | s3rver CPU | runs (wall) |',
    '| --- | --- | ---: | ---: | ---: | --- |',
  ];
  for (const c of cases) {
    for (const tool of ['raas-s3', 'aws', 'raas-file'] as const) {
      const ms = c.runs[tool];
      const name = tool === 'aws' ? 'aws s3 cp' : tool === 'raas-s3' ? 'raas push, S3' : 'raas push, file store';
      rows.push(`| ${c.spec.label} | ${name} | ${seconds(wall(ms))} | ${seconds(median(ms.map((m) => m.cpuMs)))} | ${seconds(median(ms.map((m) => m.serverCpuMs)))} | ${ms.map((m) => (m.wallMs / 1000).toFixed(2)).join(', ')} |`);
    }
  }
  return rows.join('\n');
}

function renderMarkdown(env: Environment, cases: readonly CaseResult[], status: StatusResult | undefined): string {
  const list = verdicts(cases, status);
  const profiles = [...cases.flatMap((c) => c.profiles), ...(status?.profile ? [status.profile] : [])];
  const lines = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts); rerun it to refresh this file. It is a script, not a test: `.ci/run` does not run it.',
    '',
    '## Machine and versions',
    '',
    `- Date: ${env.date}`,
    `- CPU: ${env.cpu}`,
    `- OS: ${env.os}`,
    `- Node ${env.node}; raas ${env.raas}; ${env.aws}; s3rver ${env.s3rver} (in its own process, on 127.0.0.1)`,
    '',
    '## Results',
    '',
    `Median wall time of ${env.rounds} rounds. Each round runs \`raas push\` to S3 and \`aws s3 cp --recursive\` of the same files already`,
    'extracted, to the same s3rver (the two alternate who goes first), then `raas push` to a file store; every run writes into a',
    'fresh bucket or directory, and each raas push deploys to a fresh Crane app remote (a bare git repository) and commits its',
    'backup and log to the configuration repository, as a real push does. raas times include reading and validating the',
    'archive; the AWS CLI uploads the extracted files with its default settings (10 requests in flight; raas: 8). Peak RSS is',
    '"Maximum resident set size" from `/usr/bin/time -v`, the largest of all runs of the row.',
    '',
    resultsTable(cases, status),
    '',
  ];
  if (status) {
    const checks = Object.entries(status.checks).map(([name, n]) => `${n} ${name}`).join(', ');
    lines.push(
      `raas status: \`raas --no-commit status bs3\` of ${STATUS_IMAGES} images of ${STATUS_LAYERS} layers (${STATUS_LAYER_BYTES / 1024} KiB each) published by raas push, with`,
      'their backups, to s3rver, and served by raas\'s Crane-compatible server; median of',
      `${status.runs.length} runs (${status.runs.map((m) => (m.wallMs / 1000).toFixed(2)).join(', ')} s). Each run made these checks: ${checks}`,
      `(${Object.entries(status.outcome).map(([k, n]) => `${n} ${k}`).join(', ')}). Publishing the images took ${seconds(status.setupMs)} (not part of the figure),`,
      `${STATUS_PUSHERS} pushes at a time from one working copy of the configuration repository${status.reruns.length === 0 ? '.' : `; ${status.reruns.length} of them failed and were run again: ${status.reruns.join('; ')}.`}`,
      ...status.notOk.map((text) => `- ${text}`),
      '',
    );
  }
  lines.push(
    '## Targets',
    '',
    '| target | measured | |',
    '| --- | ---: | --- |',
    ...list.map((v) => `| ${v.target} | ${v.measured} | ${v.met ? 'met' : 'missed'} |`),
    '',
    '## Where the time goes',
    '',
  );
  if (cases.length > 0) {
    lines.push(
      'CPU time of each tool (user + system, from `/usr/bin/time -v`, including the git processes raas runs) and of the s3rver',
      'process during the same run (from /proc); medians over the rounds.',
      '',
      cpuTable(cases),
      '',
    );
  }
  if (profiles.length > 0) {
    lines.push(
      'A CPU profile (`node --cpu-prof`, summarized by bench/profile.ts: self time per source, "(idle)" is time raas waited',
      'on s3rver, the disk or git) of one more raas run for each missed target:',
      '',
      ...profiles.map((p) => `- ${p.what}: ${seconds(p.wallMs)} wall, s3rver CPU ${seconds(p.serverCpuMs)} meanwhile. Self time: ${p.summary}.${p.timeline ? ` Its run log: ${p.timeline}.` : ''}`),
      '',
    );
  }
  return lines.join('\n');
}

/** Marks where BENCHMARKS.md's hand-written analysis starts; a rerun keeps it. */
const NOTES_MARKER = '<!-- Written by hand from here on: bench/run.ts keeps this part when it rewrites the file. -->';

function keptNotes(file: string): string {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const at = old.indexOf(NOTES_MARKER);
  return at >= 0 ? old.slice(at) : `${NOTES_MARKER}\n\n## Notes\n`;
}

// ---------------------------------------------------------------------------------------
// Main: one temporary directory for everything, removed however the bench ends

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      cases: { type: 'string', default: 'a,b,c,status' },
      output: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'no-profile': { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const wanted = new Set(values.cases.split(',').map((s) => s.trim()));
  const unknown = [...wanted].filter((k) => !['a', 'b', 'c', 'status'].includes(k));
  if (unknown.length > 0) throw new Error(`unknown case(s) ${unknown.join(', ')}: choose from a, b, c, status`);
  const all = wanted.size === 4;
  // A partial run does not overwrite BENCHMARKS.md unless asked to.
  const output = values.output ?? (all ? path.join(ROOT, 'BENCHMARKS.md') : undefined);
  return { rounds, wanted, output, build: !values['no-build'], profile: !values['no-profile'] };
}

async function main(): Promise<void> {
  const options = parseOptions();
  preflight(options.build);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raas-bench-'));
  let bench: Bench | undefined;
  let cleaning: Promise<void> | undefined;
  // Once, whether the bench ends, fails or is interrupted (then the failing run ends it too).
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await stopChildren();
      await bench?.s3.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })());
  // Ctrl-C: the raas or aws child stops first, then s3rver, then the files go.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping and removing ${dir}`);
      void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

  const started = performance.now();
  try {
    const env = describeEnvironment(options.rounds);
    log(`temporary directory ${dir}; ${options.rounds} rounds`);
    bench = await makeBench(dir, options.profile);
    log(`s3rver at ${bench.s3.endpoint}`);
    const cases: CaseResult[] = [];
    for (const spec of CASES) if (options.wanted.has(spec.key)) cases.push(await benchCase(bench, spec, options.rounds));
    const status = options.wanted.has('status') ? await benchStatus(bench) : undefined;

    const markdown = renderMarkdown(env, cases, status);
    process.stdout.write(`${resultsTable(cases, status)}\n\n${verdicts(cases, status).map((v) => `${v.met ? 'met   ' : 'MISSED'} ${v.target}: ${v.measured}`).join('\n')}\n`);
    if (options.output) {
      writeFileSync(options.output, `${markdown}\n${keptNotes(options.output)}`);
      log(`wrote ${options.output}`);
    }
    log(`done in ${seconds(performance.now() - started)}`);
  } finally {
    await cleanup();
  }
}

try {
  await main();
} catch (error) {
  log((error as Error).message);
  process.exitCode = 1;
}
