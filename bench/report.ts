import { existsSync, readFileSync } from 'node:fs';
import { mib, seconds } from './common.ts';
import type { Environment } from './machine.ts';
import type { CaseResult } from './push.ts';
import type { FleetResult } from './fleet.ts';
import { wall } from './processes.ts';
import { FLEET_IMAGES, FLEET_ISVS, FLEET_JOBS, FLEET_LAYERS, FLEET_LAYER_BYTES, STATUS_IMAGES, STATUS_LAYERS, STATUS_LAYER_BYTES, STATUS_PUSHERS, TARGETS } from './spec.ts';
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

/** Marks where BENCHMARKS.md's hand-written analysis starts; a rerun keeps it. */
const NOTES_MARKER = '<!-- Written by hand from here on: bench/run.ts keeps this part when it rewrites the file. -->';

export function keptNotes(file: string): string {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const at = old.indexOf(NOTES_MARKER);
  return at >= 0 ? old.slice(at) : `${NOTES_MARKER}\n\n## Notes\n`;
}

const FLEET_HEADING = '## Fleet status';

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

/** Puts the fleet section in place of the one the file has, else before the Targets section. */
export function withFleetSection(markdown: string, section: string): string {
  const start = markdown.indexOf(`${FLEET_HEADING}\n`);
  if (start >= 0) {
    const rest = markdown.slice(start + FLEET_HEADING.length);
    const next = rest.search(/\n## |\n<!-- Written by hand/);
    return `${markdown.slice(0, start)}${section}${next >= 0 ? rest.slice(next + 1) : ''}`;
  }
  const targets = markdown.indexOf('## Targets\n');
  return targets >= 0 ? `${markdown.slice(0, targets)}${section}\n${markdown.slice(targets)}` : `${markdown}\n${section}`;
}
