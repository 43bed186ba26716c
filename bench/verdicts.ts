import { median, mib, ratio, seconds, sizeText } from './common.ts';
import { peakRss, wall, type Measured } from './processes.ts';
import { repushRatio, type CaseResult } from './push.ts';
import { STATUS_IMAGES, STATUS_LAYERS, TARGETS } from './spec.ts';
import type { StatusResult } from './status.ts';

// The figures: targets met or missed, and the tables printed and written to the report

interface Verdict {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

export function verdicts(cases: readonly CaseResult[], status: StatusResult | undefined): Verdict[] {
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

export function resultsTable(cases: readonly CaseResult[], status: StatusResult | undefined): string {
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
export function cpuTable(cases: readonly CaseResult[]): string {
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
