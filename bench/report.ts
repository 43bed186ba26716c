import { existsSync, readFileSync } from 'node:fs';
import { mib, seconds } from './common.ts';
import type { Environment } from './machine.ts';
import type { CaseResult } from './push.ts';
import type { FleetResult } from './fleet.ts';
import { wall } from './processes.ts';
import { peerTable, peerVerdicts, type PeerResult } from './peer.ts';
import { serveTable, serveVerdicts, type ServeResult } from './serve.ts';
import { FLEET_IMAGES, FLEET_ISVS, FLEET_JOBS, FLEET_LAYERS, FLEET_LAYER_BYTES, SERVE, STATUS_IMAGES, STATUS_LAYERS, STATUS_LAYER_BYTES, STATUS_PUSHERS, TARGETS } from './spec.ts';
import type { StatusResult } from './status.ts';
import { cpuTable, resultsTable, verdicts } from './verdicts.ts';

// The report: BENCHMARKS.md, with the hand-written notes a rerun keeps

export function renderMarkdown(env: Environment, cases: readonly CaseResult[], status: StatusResult | undefined): string {
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
    'archive: every first push starts with an empty layer digest cache and reads every layer; the unchanged re-push that',
    'follows it finds the digests the first push cached (README, "Upload"). The AWS CLI uploads the extracted files with its',
    'default settings (10 requests in flight; raas: 8). Peak RSS is "Maximum resident set size" from `/usr/bin/time -v`, the',
    'largest of all runs of the row.',
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

/** The serving case's section, between its markers: a run without the case keeps the one in the file. */
export function renderServe(env: Environment, result: ServeResult): string {
  const list = serveVerdicts(result);
  const rounds = result.runs['raas serve'].manifest.length;
  const lines = [
    SERVE_START,
    '## Serving',
    '',
    `Measured ${env.date} (raas ${env.raas}, Node ${env.node}; ${env.cpu}) against Debian's docker-registry ${result.registryVersion}.`,
    '',
    `\`raas serve\` (file store; default log level, so one access log line per request) and \`docker-registry\` (filesystem driver,`,
    'in-memory blob descriptor cache, default access log) serve the same image: raas push publishes it to a directory store,',
    'raas serve serves it, and skopeo copies it from raas serve into docker-registry, so both hold the very manifest',
    `(${result.image.manifestBytes} bytes, ${result.image.digest.slice(0, 19)}…) and blobs; each server is checked to serve them intact first.`,
    `A bounded Node load client (bench/load.ts; wrk cannot send HEAD requests) keeps ${SERVE.concurrency} clients on keep-alive`,
    `connections busy for ${SERVE.durationMs / 1000} s per run after ${SERVE.warmupMs / 1000} s of warm-up, on 127.0.0.1, and checks every answer (status 200, the`,
    'Content-Length, the bytes of each GET). The manifest workload is what containerd does for a pull: HEAD by tag, then',
    'GET by digest, in turn. The blob workload GETs the large layer. Medians of',
    `${rounds} ${rounds === 1 ? 'run' : 'runs'} per row; the two servers take turns at going first. The client shares the machine's cores with the server it`,
    'measures, the same for both. Server CPU is the server process\'s user + system time during the run (from /proc).',
    '',
    serveTable(result),
    '',
    '| target | measured | |',
    '| --- | ---: | --- |',
    ...list.map((v) => `| ${v.target} | ${v.measured} | ${v.met ? 'met' : 'missed'} |`),
    '',
  ];
  if (result.profiles.length > 0) {
    lines.push(
      'A CPU profile of raas serve (`node --cpu-prof`, summarized by bench/profile.ts) during one more run of each missed workload:',
      '',
      ...result.profiles.map((p) => `- ${p.what}: server CPU ${seconds(p.serverCpuMs)} in the measured part. Self time: ${p.summary}.`),
      '',
    );
  }
  lines.push(SERVE_END);
  return lines.join('\n');
}

/** Marks where BENCHMARKS.md's hand-written analysis starts; a rerun keeps it. */
export const NOTES_MARKER = '<!-- Written by hand from here on: bench/run.ts keeps this part when it rewrites the file. -->';
const SERVE_START = '<!-- The serving case (bench/serve.ts) writes from here; a run without it keeps this part. -->';
const SERVE_END = '<!-- End of the serving case. -->';

/**
 * The file's three parts: the push and status figures, the serving section and the notes.
 * A run writes the parts it measured and keeps the others as the file has them, so
 * `--cases serve --output BENCHMARKS.md` refreshes the serving figures alone.
 */
export function composeReport(file: string, main: string | undefined, serve: string | undefined): string {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const notesAt = old.indexOf(NOTES_MARKER);
  const before = notesAt >= 0 ? old.slice(0, notesAt) : old;
  const start = before.indexOf(SERVE_START);
  const end = before.indexOf(SERVE_END);
  const oldServe = start >= 0 && end > start ? before.slice(start, end + SERVE_END.length) : undefined;
  const oldMain = (start >= 0 ? before.slice(0, start) : before).trimEnd();
  const notes = notesAt >= 0 ? old.slice(notesAt) : `${NOTES_MARKER}\n\n## Notes\n`;
  const parts = [(main ?? oldMain).trimEnd(), serve ?? oldServe].filter((p): p is string => p !== undefined && p !== '');
  return `${parts.join('\n\n')}\n\n${notes}`;
}

export const FLEET_HEADING = '## Fleet status';

/** BENCHMARKS.md's section for raas status --all, with its own date and versions (a run of only this case rewrites only it). */
export function fleetSection(env: Environment, fleet: FleetResult): string {
  const s = wall(fleet.runs) / 1000;
  const peak = Math.max(...fleet.runs.map((m) => m.maxRssKiB));
  const checks = Object.entries(fleet.checks).map(([name, n]) => `${n} ${name}`).join(', ');
  return [
    FLEET_HEADING,
    '',
    `\`raas --no-commit --json status --all --jobs ${FLEET_JOBS}\` of ${FLEET_ISVS} ISVs × ${FLEET_IMAGES} images of ${FLEET_LAYERS} layers (${FLEET_LAYER_BYTES / 1024} KiB each), each ISV with`,
    'its own bucket on s3rver, its own Crane app remote and its backups in the configuration repository, served by raas\'s',
    'Crane-compatible server (in the bench process). One ISV\'s images were published by raas push; the other ISVs are copies of',
    `it under their own names (${fleet.objects} objects copied server-side, metadata and backups renamed), made in ${seconds(fleet.setupMs)}, not part of the figure.`,
    `Measured ${env.date}, Node ${env.node}, raas ${env.raas}.`,
    '',
    '| | median wall | runs | peak RSS | target | |',
    '| --- | ---: | --- | ---: | ---: | --- |',
    `| raas status --all, ${FLEET_ISVS} × ${FLEET_IMAGES} images | ${seconds(wall(fleet.runs))} | ${fleet.runs.map((m) => (m.wallMs / 1000).toFixed(2)).join(', ')} s | ${mib(peak)} | ≤ ${TARGETS.fleetSeconds} s | ${s <= TARGETS.fleetSeconds ? 'met' : 'missed'} |`,
    '',
    `Each run made these checks: ${checks} (ISVs: ${Object.entries(fleet.isvs).map(([k, n]) => `${n} ${k}`).join(', ')}).`,
    ...fleet.notOk.slice(0, 10).map((text) => `- ${text}`),
    ...(fleet.profile
      ? ['', `A CPU profile of one more run (${seconds(fleet.profile.wallMs)} wall, s3rver CPU ${seconds(fleet.profile.serverCpuMs)} meanwhile). Self time: ${fleet.profile.summary}.`]
      : []),
    '',
  ].join('\n');
}

/** Puts a section (a heading and what follows it) in place of the one the file has, else before `before` (or at the end). */
export function withSection(markdown: string, section: string, before = '## Targets\n'): string {
  const heading = section.slice(0, section.indexOf('\n'));
  const start = markdown.indexOf(`${heading}\n`);
  if (start >= 0) {
    const rest = markdown.slice(start + heading.length);
    const next = rest.search(/\n## |\n<!-- /);
    return `${markdown.slice(0, start)}${section.trimEnd()}\n\n${next >= 0 ? rest.slice(next + 1) : ''}`;
  }
  const at = markdown.indexOf(before);
  return at >= 0 ? `${markdown.slice(0, at)}${section.trimEnd()}\n\n${markdown.slice(at)}` : `${markdown}\n${section}`;
}

/** The section under `heading` of an earlier BENCHMARKS.md, so a run that did not measure it keeps it. */
export function previousSection(file: string, heading: string): string | undefined {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const start = old.indexOf(`${heading}\n`);
  if (start < 0) return undefined;
  const rest = old.slice(start + heading.length);
  const next = rest.search(/\n## |\n<!-- /);
  return `${heading}${next >= 0 ? rest.slice(0, next + 1) : rest}`.trimEnd() + '\n';
}

export const PEER_HEADING = '## Publishing for a stock registry';

/** BENCHMARKS.md's section for the peer comparison, with its own date and versions. */
export function peerSection(env: Environment, results: readonly PeerResult[], registryVersion: string, skopeoVersion: string): string {
  const rounds = results[0]?.runs['raas push'].length ?? 0;
  return [
    PEER_HEADING,
    '',
    `Measured ${env.date} (raas ${env.raas}, Node ${env.node}; ${env.cpu}) against ${skopeoVersion} and Debian's docker-registry ${registryVersion}.`,
    '',
    'The same docker-archive (the shape `docker save` writes: plain layer tars of incompressible data) is published two',
    'ways, alternating who goes first, into fresh directories on the same disk: `skopeo copy',
    'docker-archive:… docker://127.0.0.1:<port>/…` of each of its images in turn into docker-registry (filesystem driver,',
    'started before the timed run), and `raas push` with `layout = distribution` into a `file` store (no Crane app; the',
    'push commits its record and log to the configuration repository, as a real push does). Each raas run is a first',
    'push: it reads and hashes every layer. After every run docker-registry (started on raas\'s directory for raas)',
    'must serve each image with the archive\'s config and every blob (for raas, the archive\'s layer digests too: skopeo',
    'gzips each layer on its way to a registry, at its default settings), or the run fails. Wall time,',
    `peak RSS and tool CPU from \`/usr/bin/time -v\`; registry CPU from /proc. Medians of ${rounds} rounds.`,
    '',
    peerTable(results),
    '',
    '| target | measured | |',
    '| --- | ---: | --- |',
    ...peerVerdicts(results).map((v) => `| ${v.target} | ${v.measured} | ${v.met ? 'met' : 'missed'} |`),
    '',
  ].join('\n');
}
