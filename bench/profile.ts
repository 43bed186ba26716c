import { readFileSync } from 'node:fs';

/**
 * Where a process spent its time, from a V8 CPU profile (`node --cpu-prof`): self time per
 * source (an npm package, a raas module, a node: builtin, or V8's own (idle), (garbage
 * collector), (program)), largest first. "(idle)" is time the event loop waited: on the
 * network, the disk or the server.
 */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileShare {
  readonly source: string;
  readonly ms: number;
  readonly share: number;
}

export function summarizeProfile(file: string, top = 8): ProfileShare[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const sourceOf = new Map(profile.nodes.map((n) => [n.id, sourceName(n.callFrame)]));
  const totals = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const source = sourceOf.get(id) ?? '(unknown)';
    totals.set(source, (totals.get(source) ?? 0) + us);
    all += us;
  });
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([source, us]) => ({ source, ms: Math.round(us / 1000), share: all === 0 ? 0 : us / all }));
}

function sourceName(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : `(native) ${functionName}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url;
  const own = /\/(?:dist|src)\/(.+?)\.[jt]s$/.exec(url);
  return own ? `raas ${own[1]}` : url;
}

export const formatProfile = (shares: readonly ProfileShare[]): string =>
  shares.map((s) => `${s.source} ${(s.share * 100).toFixed(0)}%`).join(', ');
