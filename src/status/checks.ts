import { RaasError } from '../errors.ts';

export type Outcome = 'ok' | 'warning' | 'failed';

/** One thing status looked at: what kind of check, of what, how it came out and why. */
export interface Check {
  /** domain, app, storage, app-repository, crane-config, lint, image, objects, orphans, backup, registry, tags, v2-objects, v2-orphans, v2-tags, log */
  readonly check: string;
  /** What was checked: a domain, a bucket, a file, an image name, a URL. */
  readonly subject: string;
  readonly outcome: Outcome;
  readonly detail: string;
}

export const check = (name: string, subject: string, outcome: Outcome, detail: string): Check => ({ check: name, subject, outcome, detail });

/**
 * Runs one check; a RaasError (storage, git, rhc, registry unreachable) is the check's
 * failure rather than the end of the run, so that one broken part never hides the others.
 */
export async function attempt(name: string, subject: string, run: () => Promise<Check | Check[]>): Promise<Check[]> {
  try {
    return [await run()].flat();
  } catch (error) {
    if (!(error instanceof RaasError)) throw error;
    return [check(name, subject, 'failed', error.describe())];
  }
}

/** Up to `max` items, then how many more: details stay readable for large registries. */
export function some(items: readonly string[], max = 5): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/** "1 warning", "2 warnings": counts as people write them. */
export const counted = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** "1 failed, 2 warnings, 30 ok". */
export const describeSummary = (summary: Record<Outcome, number>): string => `${summary.failed} failed, ${counted(summary.warning, 'warning')}, ${summary.ok} ok`;

export function summarize(checks: readonly Check[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { ok: 0, warning: 0, failed: 0 };
  for (const c of checks) counts[c.outcome] += 1;
  return counts;
}
