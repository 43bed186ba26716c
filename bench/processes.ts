import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { S3Client } from '@aws-sdk/client-s3';
import { S3RVER_CREDENTIALS } from '../test/helpers/s3.ts';
import { ROOT, TIME, log, median } from './common.ts';

// Processes: one child at a time is measured; every child is stopped on Ctrl-C

const running = new Set<ChildProcess>();

/**
 * Stop every running child and what it started: each runs in a process group of its own,
 * because /usr/bin/time does not pass signals on to the command it measures. SIGINT lets
 * raas abort its uploads as on Ctrl-C; whatever is left after a few seconds is killed.
 */
export async function stopChildren(): Promise<void> {
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

export function run(command: string, args: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Finished> {
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
export interface Measured {
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
export async function measure(bench: { readonly dir: string; readonly s3: Pick<S3Process, 'cpuMs'> }, what: string, command: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Measured> {
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

export const wall = (ms: readonly Measured[]): number => median(ms.map((m) => m.wallMs));
export const peakRss = (ms: readonly Measured[]): number => Math.max(...ms.map((m) => m.maxRssKiB));

// s3rver, in a process of its own, and the CPU time it spends

export interface S3Process {
  readonly endpoint: string;
  readonly client: S3Client;
  /** CPU time (user + system) the server process has used so far. */
  cpuMs(): number;
  stop(): Promise<void>;
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system) process `pid` has used so far, from /proc. */
export function processCpuMs(pid: number): number {
  // /proc/<pid>/stat: the fields after "(comm)" start at state; utime and stime are the 12th and 13th of them.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/**
 * A long-running child (a server), in a process group of its own and stopped with the others
 * on Ctrl-C. Its stderr goes to `logFile` (an open descriptor), and so does its stdout unless
 * the caller reads it (`readStdout`): a pipe nobody drains stops the server once it is full.
 */
export function startTracked(command: string, args: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv; logFile: number; readStdout: boolean }): ChildProcess {
  const stdout = options.readStdout ? 'pipe' : options.logFile;
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env, stdio: ['ignore', stdout, options.logFile], detached: true });
  running.add(child);
  child.once('close', () => running.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed). */
export async function stopTracked(child: ChildProcess, graceMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timeout = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timeout);
  return code;
}

/**
 * bench/s3-server.ts in its own process group (so Ctrl-C reaches us first and we stop it in
 * order) and with TMPDIR in the bench directory, so even a server killed outright leaves
 * its objects where our cleanup removes them.
 */
export async function startS3Process(env: NodeJS.ProcessEnv): Promise<S3Process> {
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
    cpuMs: () => processCpuMs(child.pid!),
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
