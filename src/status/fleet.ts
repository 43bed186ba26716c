import path from 'node:path';
import pLimit from 'p-limit';
import type { Config } from '../config/config.ts';
import { FLEET_LOGS, type ConfigRepo } from '../configrepo/repo.ts';
import { RaasError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { check, summarize, type Check, type Outcome } from './checks.ts';
import { status, type StatusReport } from './status.ts';

export interface FleetRequest {
  readonly config: Config;
  /** Warnings fail too. */
  readonly strict: boolean;
  /** Append this run's log to the configuration repository (once, for every ISV). */
  readonly commit: boolean;
  /** ISVs checked at once. */
  readonly jobs: number;
  readonly workDir: string;
  readonly runLog: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly configRepo: ConfigRepo;
}

/** One ISV's verdict in a line: how it came out, its images, and the first problem found. */
export interface FleetLine {
  readonly isv: string;
  readonly outcome: Outcome;
  readonly summary: Record<Outcome, number>;
  readonly images: number;
  /** The first failed check, else the first warning. */
  readonly first: Check | undefined;
}

export interface FleetReport {
  /** What the exit code says: no ISV failed (and, with strict, none warned). */
  readonly ok: boolean;
  readonly strict: boolean;
  /** ISVs by outcome. */
  readonly isvs: Record<Outcome, number>;
  /** Checks by outcome, over every ISV. */
  readonly summary: Record<Outcome, number>;
  readonly images: number;
  readonly lines: readonly FleetLine[];
  /** Every ISV's own report, as `raas status <isv> --json` prints it. */
  readonly reports: readonly StatusReport[];
  /** Saving the run's log, when that failed (the ISVs' health does not depend on it). */
  readonly log: Check | undefined;
}

const outcomeOf = (summary: Record<Outcome, number>): Outcome => (summary.failed > 0 ? 'failed' : summary.warning > 0 ? 'warning' : 'ok');

/**
 * `raas status` over every ISV of raas.cfg, `jobs` at a time: each ISV gets exactly the
 * checks `raas status <isv>` runs (its own temporary directory, its own log lines tagged
 * with the ISV); then the run's log is appended to the configuration repository once.
 * What cannot be checked at all (an ISV whose storage cannot even be opened) is that ISV's
 * failure, never the end of the others' reports.
 */
export async function fleetStatus(request: FleetRequest): Promise<FleetReport> {
  const { config, logger } = request;
  const limit = pLimit(request.jobs);
  const isvs = [...config.isvs.values()];
  logger.info(`checking ${isvs.length} ISV${isvs.length === 1 ? '' : 's'}, ${Math.min(request.jobs, isvs.length)} at a time`);
  const reports = await limit.map(isvs, async (isv): Promise<StatusReport> => {
    const isvLogger = logger.child({ isv: isv.name });
    try {
      return await status({
        config, isv, image: undefined, strict: request.strict, commit: false,
        workDir: path.join(request.workDir, 'isv', isv.name), runLog: request.runLog, logger: isvLogger, signal: request.signal, configRepo: request.configRepo,
      });
    } catch (error) {
      if (!(error instanceof RaasError) || request.signal.aborted) throw error;
      const failed = [check('status', isv.name, 'failed', error.describe())];
      return { ok: false, isv: isv.name, image: null, strict: request.strict, registry: isv.registryUrl ?? null, summary: summarize(failed), checks: failed, images: [] };
    }
  });
  const lines = reports.map((r): FleetLine => ({
    isv: r.isv, outcome: outcomeOf(r.summary), summary: r.summary, images: r.images.length,
    first: r.checks.find((c) => c.outcome === 'failed') ?? r.checks.find((c) => c.outcome === 'warning'),
  }));
  const byIsv: Record<Outcome, number> = { ok: 0, warning: 0, failed: 0 };
  for (const line of lines) byIsv[line.outcome] += 1;
  const summary = summarize(reports.flatMap((r) => r.checks));
  logger.info(`status of ${isvs.length} ISV${isvs.length === 1 ? '' : 's'}: ${byIsv.failed} failed, ${byIsv.warning} with warnings, ${byIsv.ok} ok`);
  const log = request.commit ? await appendLog(request) : undefined;
  return {
    ok: byIsv.failed === 0 && (!request.strict || (byIsv.warning === 0 && log === undefined)),
    strict: request.strict, isvs: byIsv, summary, images: lines.reduce((n, l) => n + l.images, 0), lines, reports, log,
  };
}

async function appendLog(request: FleetRequest): Promise<Check | undefined> {
  try {
    await request.configRepo.backup({ isv: FLEET_LOGS, command: 'status --all', metadata: [], logFile: request.runLog });
    return undefined;
  } catch (error) {
    if (!(error instanceof RaasError)) throw error;
    return check('log', 'configuration repository', 'warning', `this run's log was not saved: ${error.describe()}`);
  }
}
