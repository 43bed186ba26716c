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
 * 6. Makes a fleet of 50 ISVs × 20 images (bench/fleet.ts, untimed), then times
 *    `raas status --all` of them all.
 * Prints the table on stdout and writes it, with the machine, the versions and the date, to
 * BENCHMARKS.md. A missed target gets a CPU profile of one raas run (bench/profile.ts).
 *
 * Options: --rounds <n> (default 3), --cases a,b,c,status,fleet (a subset prints its table and
 * writes BENCHMARKS.md only with --output; fleet alone rewrites only its section there), --output <file>, --no-build (measure dist/ as
 * it is), --no-profile (skip profiling misses).
 * Everything generated lives in one temporary directory, removed on exit and on Ctrl-C.
 *
 * This file is the wiring. The parts: spec.ts (cases and targets), machine.ts (tools, build,
 * versions), processes.ts (children, /usr/bin/time, s3rver), installation.ts (raas.cfg,
 * configuration repository, buckets), tools.ts (targets and the three tools), push.ts,
 * status.ts, profiling.ts and profile.ts, verdicts.ts and report.ts.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, log, seconds } from './common.ts';
import { makeBench, type Bench } from './installation.ts';
import { describeEnvironment, preflight } from './machine.ts';
import { stopChildren } from './processes.ts';
import { benchCase, type CaseResult } from './push.ts';
import { benchFleet } from './fleet.ts';
import { fleetSection, keptNotes, renderMarkdown, withFleetSection } from './report.ts';
import { CASES } from './spec.ts';
import { benchStatus } from './status.ts';
import { resultsTable, verdicts } from './verdicts.ts';

// Main: one temporary directory for everything, removed however the bench ends

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      cases: { type: 'string', default: 'a,b,c,status,fleet' },
      output: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'no-profile': { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const wanted = new Set(values.cases.split(',').map((s) => s.trim()));
  const unknown = [...wanted].filter((k) => !['a', 'b', 'c', 'status', 'fleet'].includes(k));
  if (unknown.length > 0) throw new Error(`unknown case(s) ${unknown.join(', ')}: choose from a, b, c, status, fleet`);
  const all = wanted.size === 5;
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
    const fleet = options.wanted.has('fleet') ? await benchFleet(bench) : undefined;

    const classic = ['a', 'b', 'c', 'status'].some((k) => options.wanted.has(k));
    if (classic) process.stdout.write(`${resultsTable(cases, status)}\n\n${verdicts(cases, status).map((v) => `${v.met ? 'met   ' : 'MISSED'} ${v.target}: ${v.measured}`).join('\n')}\n`);
    const fleetText = fleet ? fleetSection(env, fleet) : undefined;
    if (fleetText) process.stdout.write(`${fleetText}\n`);
    if (options.output) {
      // Only the fleet case: the rest of the file, figures and notes, stays as it is.
      const markdown = classic ? `${renderMarkdown(env, cases, status)}\n${keptNotes(options.output)}` : readFileSync(options.output, 'utf8');
      writeFileSync(options.output, fleetText ? withFleetSection(markdown, fleetText) : markdown);
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
