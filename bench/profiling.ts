import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { log } from './common.ts';
import type { WrittenExport } from './exports.ts';
import type { Bench } from './installation.ts';
import { measure, type Measured } from './processes.ts';
import { summarizeProfileDir } from './profile.ts';
import type { BenchCase } from './spec.ts';
import { freshTarget, pushArgs, raasCommand, removeTarget, runTool, targetEnv } from './tools.ts';

// Profiling a raas run that missed a target

export interface ProfileNote {
  readonly what: string;
  readonly wallMs: number;
  readonly serverCpuMs: number;
  readonly summary: string;
  /** Milestones from raas's run log. */
  readonly timeline: string;
}

/** A raas run that missed a target, to profile. */
export interface Miss {
  readonly tool: 'raas-s3' | 'raas-file';
  readonly repush: boolean;
  readonly why: string;
}

/**
 * One more raas run under `node --cpu-prof`, summarized by bench/profile.ts: self time per
 * source, where "(idle)" is time raas waited (on s3rver, the disk or git). The server's CPU
 * time in the same run says how much of that wait s3rver was busy.
 */
export async function profileRun(bench: Bench, spec: BenchCase, written: WrittenExport, miss: Miss): Promise<ProfileNote> {
  const what = `raas push ${spec.label} to the ${miss.tool === 'raas-s3' ? 'S3' : 'file'} store${miss.repush ? ', pushed again unchanged' : ''}`;
  log(`profiling ${what}: ${miss.why}`);
  const target = await freshTarget(bench, miss.tool);
  try {
    await bench.forgetDigests();
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
