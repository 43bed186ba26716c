import { mkdir, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { log, median, mib, ratio, seconds } from './common.ts';
import { writeExport } from './exports.ts';
import type { Bench } from './installation.ts';
import { peakRss, wall, type Measured } from './processes.ts';
import { profileRun, type Miss, type ProfileNote } from './profiling.ts';
import { TARGETS, type BenchCase } from './spec.ts';
import { freshTarget, removeTarget, runTool, type Tool } from './tools.ts';

// Steps 1, 3, 4: the push cases

export interface CaseResult {
  readonly spec: BenchCase;
  readonly objects: number;
  readonly bytes: number;
  readonly runs: Record<Tool, Measured[]>;
  /** Re-push of an unchanged image, per store, with the first push it repeats. */
  readonly repush: Partial<Record<Tool, { first: Measured; again: Measured }[]>>;
  readonly profiles: ProfileNote[];
}

async function settle(file: string): Promise<void> {
  const age = Date.now() - (await stat(file)).mtimeMs;
  if (age < 2100) await sleep(2100 - age);
}

/** The order of a round: raas and aws alternate who goes first, the file store follows. */
const roundOrder = (round: number): Tool[] => (round % 2 === 1 ? ['raas-s3', 'aws', 'raas-file'] : ['aws', 'raas-s3', 'raas-file']);

export async function benchCase(bench: Bench, spec: BenchCase, rounds: number): Promise<CaseResult> {
  const caseDir = path.join(bench.dir, 'exports', spec.name);
  await mkdir(caseDir, { recursive: true });
  log(`${spec.label}: writing the export and the same files extracted`);
  const written = writeExport(caseDir, spec);
  // raas caches layer digests only for archives older than 2 s (a younger one may still be
  // written to within the same timestamp); an export is older than that when users push it.
  await settle(written.archive);
  const runs: Record<Tool, Measured[]> = { 'raas-s3': [], 'raas-file': [], aws: [] };
  const repush: CaseResult['repush'] = {};
  for (let round = 1; round <= rounds; round++) {
    for (const tool of roundOrder(round)) {
      const target = await freshTarget(bench, tool);
      // A first push reads every layer: no digests cached by an earlier round.
      if (tool !== 'aws') await bench.forgetDigests();
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

export function repushRatio(result: CaseResult, tool: Tool): number | undefined {
  const pairs = result.repush[tool];
  return pairs && pairs.length > 0 ? median(pairs.map((p) => p.again.wallMs / p.first.wallMs)) : undefined;
}
