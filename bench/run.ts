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
 * 6. Serving (bench/serve.ts): `raas serve` (file store) and Debian's docker-registry serve
 *    the same image to 64 clients, manifest HEAD+GET and blob GET, in turns.
 * 7. The peer (bench/peer.ts): (a) and (b) as docker-archives, `skopeo copy` into Debian's
 *    docker-registry (filesystem driver) against `raas push` with `layout = distribution`
 *    into a directory, alternating; docker-registry must serve each result intact.
 * 8. Makes a fleet of 50 ISVs × 20 images (bench/fleet.ts, untimed), then times
 *    `raas status --all` of them all.
 * Prints the table on stdout and writes it, with the machine, the versions and the date, to
 * BENCHMARKS.md. A missed target gets a CPU profile of one raas run (bench/profile.ts).
 *
 * Options: --rounds <n> (default 3), --cases a,b,c,status,serve,peer,fleet (a subset prints its tables
 * and writes only with --output, and then only the parts it measured: `--cases serve
 * --output BENCHMARKS.md` replaces the serving section and keeps the rest), --output <file>,
 * --no-build (measure dist/ as it is), --no-profile (skip profiling misses).
 * Everything generated lives in one temporary directory, removed on exit and on Ctrl-C.
 *
 * This file is the wiring. The parts: spec.ts (cases and targets), machine.ts (tools, build,
 * versions), processes.ts (children, /usr/bin/time, s3rver), installation.ts (raas.cfg,
 * configuration repository, buckets), tools.ts (targets and the three tools), push.ts,
 * status.ts, serve.ts and load.ts, profiling.ts and profile.ts, verdicts.ts and report.ts.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, log, seconds } from './common.ts';
import { makeBench, type Bench } from './installation.ts';
import { describeEnvironment, preflight, registryVersion, skopeoVersion } from './machine.ts';
import { stopChildren } from './processes.ts';
import { benchCase, type CaseResult } from './push.ts';
import { benchFleet } from './fleet.ts';
import { benchPeer, PEER_CASES, peerTable, peerVerdicts, type PeerResult } from './peer.ts';
import { composeReport, FLEET_HEADING, NOTES_MARKER, fleetSection, PEER_HEADING, peerSection, previousSection, renderMarkdown, renderServe, withSection } from './report.ts';
import { benchServe, serveTable, serveVerdicts } from './serve.ts';
import { CASES } from './spec.ts';
import { benchStatus } from './status.ts';
import { resultsTable, verdicts } from './verdicts.ts';

// Main: one temporary directory for everything, removed however the bench ends

const CASE_KEYS = ['a', 'b', 'c', 'status', 'serve', 'peer', 'fleet'];

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      cases: { type: 'string', default: CASE_KEYS.join(',') },
      output: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'no-profile': { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const wanted = new Set(values.cases.split(',').map((s) => s.trim()));
  const unknown = [...wanted].filter((k) => !CASE_KEYS.includes(k));
  if (unknown.length > 0) throw new Error(`unknown case(s) ${unknown.join(', ')}: choose from ${CASE_KEYS.join(', ')}`);
  const all = CASE_KEYS.every((k) => wanted.has(k));
  // A partial run does not overwrite BENCHMARKS.md unless asked to.
  const output = values.output ?? (all ? path.join(ROOT, 'BENCHMARKS.md') : undefined);
  return { rounds, wanted, output, build: !values['no-build'], profile: !values['no-profile'] };
}

async function main(): Promise<void> {
  const options = parseOptions();
  preflight(options.build, { push: ['a', 'b', 'c', 'status'].some((k) => options.wanted.has(k)), serve: options.wanted.has('serve') || options.wanted.has('peer') });
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
    const serve = options.wanted.has('serve') ? await benchServe(bench, options.rounds) : undefined;

    const peer: PeerResult[] = [];
    if (options.wanted.has('peer')) for (const spec of PEER_CASES) peer.push(await benchPeer(bench, spec, options.rounds));
    const fleet = options.wanted.has('fleet') ? await benchFleet(bench) : undefined;

    const measuredPush = cases.length > 0 || status !== undefined;
    const lines = [...verdicts(cases, status), ...(serve ? serveVerdicts(serve) : []), ...peerVerdicts(peer)].map((v) => `${v.met ? 'met   ' : 'MISSED'} ${v.target}: ${v.measured}`);
    process.stdout.write(`${[...(measuredPush ? [resultsTable(cases, status)] : []), ...(serve ? [serveTable(serve)] : []), ...(peer.length > 0 ? [peerTable(peer)] : []), lines.join('\n')].join('\n\n')}\n`);
    if (fleet) process.stdout.write(`\n${fleetSection(env, fleet)}\n`);
    if (options.output) {
      // Each section is rewritten only by a run that measured it; the rest of the file stays.
      const fleetText = fleet ? fleetSection(env, fleet) : previousSection(options.output, FLEET_HEADING);
      const peerText = peer.length > 0 ? peerSection(env, peer, registryVersion(), skopeoVersion()) : previousSection(options.output, PEER_HEADING);
      let report = composeReport(options.output, measuredPush ? renderMarkdown(env, cases, status) : undefined, serve ? renderServe(env, serve) : undefined);
      if (fleetText) report = withSection(report, fleetText);
      // The peer comparison goes after the serving section, before the notes.
      if (peerText) report = withSection(report, peerText, NOTES_MARKER);
      writeFileSync(options.output, report);
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
