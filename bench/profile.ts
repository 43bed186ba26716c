import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Where a process spent its time, from a V8 CPU profile (`node --cpu-prof`): self time per
 * source (an npm package, a raas module, a node: builtin, or V8's own (idle), (garbage
 * collector), (program)), largest first. "(idle)" is time the event loop waited: on the
 * network, the disk or the server.
 */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

interface ProfileShare {
  readonly source: string;
  readonly ms: number;
  readonly share: number;
}

function summarizeProfile(file: string, top = 8): ProfileShare[] {
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

const formatProfile = (shares: readonly ProfileShare[]): string =>
  shares.map((s) => `${s.source} ${(s.share * 100).toFixed(0)}%`).join(', ');

/** The summary of the one profile `node --cpu-prof` wrote into `dir`: by source, then by raas caller. */
export function summarizeProfileDir(dir: string): string {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return '(no profile written)';
  const bySource = formatProfile(summarizeProfile(path.join(dir, file), 10));
  return `${bySource}. By the raas function on the stack (its own time and what it calls, e.g. hashing): ${raasCallers(path.join(dir, file))}`;
}

/**
 * summarizeProfile says which code ran (node:internal/crypto/hash, an SDK package); this
 * says on whose behalf: each sample goes to the innermost raas function on its stack, so
 * hashing shows under the raas function that hashes. Samples with no raas frame keep their
 * own name ((idle), (garbage collector), node's startup).
 */
function raasCallers(file: string, top = 8): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
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
