import type { IsvConfig } from '../config/config.ts';
import { checkAppRemote, checkMetadataPlan, deployedNow, deployMetadata, readDeployedMetadata, type DeployResult } from '../crane/deploy.ts';
import type { FrontEndFile, LayoutPlan } from '../layout/layout.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { Platform } from '../platform/platform.ts';
import type { NamedText } from '../platform/gitrepo.ts';
import type { MetadataFile } from './base-metadata.ts';

/**
 * The Crane app a push deploys to: its repository is read before anything is written (the
 * files this push rewrites must be this image's and of a shape raas can add to), the
 * redirect files are computed from what it holds when the deploy lands (so concurrent
 * pushes merge), and the backup copies what it serves afterwards.
 */
export interface CraneApp {
  readonly remote: string;
  readonly dataDir: string;
  /** The data directory's files before this push, by name. */
  readonly current: ReadonlyMap<string, string>;
}

export async function openCraneApp(platform: Platform, isv: IsvConfig, workDir: string, signal: AbortSignal): Promise<CraneApp> {
  const remote = await platform.appRemote();
  await checkAppRemote(remote, signal);
  const current = new Map((await readDeployedMetadata(remote, isv.craneDataDir, `${workDir}/app-read`, { signal })).map((f) => [f.name, f.text]));
  return { remote, dataDir: isv.craneDataDir, current };
}

/** The files a deploy writes, from what the app holds then: the base party's, then each layout's. */
export function frontEndFiles(baseFiles: readonly MetadataFile[], plans: readonly LayoutPlan[], dataDir: string, logger: Logger) {
  return (now: ReadonlyMap<string, string>, log = logger): FrontEndFile[] => [
    ...baseFiles.map((f) => ({ name: f.name, text: f.text })),
    ...plans.flatMap((p) => (p.frontEnd ? [p.frontEnd.file(now, log, dataDir)] : [])),
  ];
}

/** Refuse, before anything is written, what deploy would refuse: computed once on what is deployed now. */
export function checkFrontEnd(app: CraneApp, files: (now: ReadonlyMap<string, string>, log?: Logger) => FrontEndFile[]): void {
  checkMetadataPlan(app.dataDir, app.current, files(app.current, silentLogger()));
}

export function deployFrontEnd(app: CraneApp, files: (now: ReadonlyMap<string, string>) => FrontEndFile[], options: { workDir: string; message: string; logger: Logger; signal: AbortSignal }): Promise<DeployResult> {
  return deployMetadata({ remote: app.remote, workDir: `${options.workDir}/app`, dataDir: app.dataDir, logger: options.logger, signal: options.signal, message: options.message, files });
}

/**
 * The backup copies of the layouts' redirect files as the Crane app serves them when the
 * backup lands: another run may have deployed since this one did.
 */
export async function servedCopies(app: CraneApp, deployed: DeployResult, plans: readonly LayoutPlan[], workDir: string, signal: AbortSignal): Promise<NamedText[]> {
  const now = await deployedNow(app.remote, deployed, { dataDir: app.dataDir, workDir: `${workDir}/app`, signal });
  return plans.flatMap((p) => (p.frontEnd ? [{ name: p.frontEnd.backupName, text: now.get(p.frontEnd.name) ?? deployed.files.get(p.frontEnd.name)! }] : []));
}

