import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config, IsvConfig } from '../config/config.ts';
import type { ConfigRepo } from '../configrepo/repo.ts';
import { CRANE_CONFIG_FILE, OPENSHIFT_CRANE_CONFIG_PATH } from '../crane/config-file.ts';
import { checkAppRemote, deployMetadata } from '../crane/deploy.ts';
import { OperationError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';
import { openPlatform } from '../platform/open.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';
import { checkRegistry } from '../platform/ping.ts';
import type { Platform, StepOutcome } from '../platform/platform.ts';
import { loadBaseMetadata } from '../publish/base-metadata.ts';
import { openStore } from '../storage/open.ts';
import { noCraneSource, prepareAppRepository } from './app-repo.ts';
import { resolveSection, type SetupFlags } from './section.ts';
import { checkClientAccess, checkWritable, createStorage, storageExists, storageName, type SetupStore } from './storage.ts';
import type { SetupStep } from './steps.ts';

export type { SetupStep, StepStatus } from './steps.ts';

export interface SetupRequest {
  readonly config: Config;
  readonly isvName: string;
  readonly flags: SetupFlags;
  /** --create: make a missing bucket (or storage directory) and OpenShift domain. */
  readonly create: boolean;
  /** Write the section, the ISV's directories and the log to the configuration repository. */
  readonly commit: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly workDir: string;
  readonly runLog: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly configRepo: ConfigRepo;
}

export interface SetupReport {
  readonly isv: string;
  /** No step failed. */
  readonly ok: boolean;
  /** Some step made or changed something. */
  readonly changed: boolean;
  readonly registry: string;
  readonly steps: readonly SetupStep[];
  /** The section setup made from the options, when --no-commit kept it out of raas.cfg. */
  readonly unsavedSection: string | undefined;
}

// A new or restarted app takes a while to answer.
const REGISTRY_ATTEMPTS = 10;
const REGISTRY_DELAY_MS = 3000;

const fromOutcome = (o: StepOutcome): SetupStep => ({
  step: o.step, status: o.status === 'created' ? 'done' : o.status === 'present' ? 'present' : 'failed', detail: o.detail,
});

type Record = (step: SetupStep) => void;

/**
 * Everything is looked at before anything is made: without --create a missing bucket or
 * domain stops setup with nothing created, and so does an app that would need the Crane
 * source when none is configured. Returns whether the storage exists.
 */
async function preflight(request: SetupRequest, config: Config, isv: IsvConfig, store: SetupStore, platform: Platform): Promise<boolean> {
  const storageFound = await storageExists(store);
  const found = await platform.ensure({ createDomain: false, createApp: false });
  const domain = isv.platform.kind === 'openshift' ? isv.platform.domain : undefined;
  const absent = [
    ...(storageFound ? [] : [storageName(store)]),
    ...(found.some((o) => o.status === 'missing' && o.step === `domain ${domain}`) ? [`OpenShift domain ${domain}`] : []),
  ];
  if (absent.length > 0 && !request.create) {
    throw new OperationError(`${absent.join(' and ')} ${absent.length === 1 ? 'does' : 'do'} not exist; nothing was created`, {
      where: `raas.cfg [${isv.name}]`,
      fix: `run raas setup ${isv.name} --create to create ${absent.length === 1 ? 'it' : 'them'}, or check the names`,
    });
  }
  if (isv.platform.kind === 'none') return storageFound;
  const emptyApp = isv.platform.kind === 'openshift' ? found.some((o) => o.status === 'missing') : !(await checkAppRemote(isv.platform.remote, request.signal));
  // raas serve needs no Crane code: for the git platform the Crane source is optional.
  if (emptyApp && !config.openshift.appGitUrl && isv.platform.kind !== 'git') throw noCraneSource();
  return storageFound;
}

/** Step 2: the app, its repository holding Crane and crane.conf, and the environment that makes Crane read it. */
async function appSteps(request: SetupRequest, config: Config, isv: IsvConfig, platform: Platform, record: Record): Promise<string> {
  if (platform.kind === 'none') throw new OperationError(`${isv.name} has no Crane app (platform = none)`);
  const outcomes = await platform.ensure({ createDomain: request.create, createApp: true });
  outcomes.forEach((o) => record(fromOutcome(o)));
  const remote = await platform.appRemote();
  const repo = await prepareAppRepository({
    isv: isv.name, remote, craneSource: config.openshift.appGitUrl, platform: platform.kind, dataDir: isv.craneDataDir,
    workDir: path.join(request.workDir, 'app'), logger: request.logger, signal: request.signal,
  });
  if (repo.initialised) record({ step: 'Crane code', status: 'done', detail: `the empty app repository now holds ${scrub(config.openshift.appGitUrl ?? '')}` });
  if (repo.started) record({ step: 'Crane code', status: 'skipped', detail: `no [openshift] app_git_url: none needed, raas serve ${isv.name} is the front end` });
  const runWith = platform.kind === 'openshift'
    ? `the app runs with CRANE_CONFIG_PATH=${OPENSHIFT_CRANE_CONFIG_PATH}`
    : `serve it with ${serveCommand(isv)} (or start Crane in the repository root with CRANE_CONFIG_PATH=${CRANE_CONFIG_FILE})`;
  record({ step: `Crane configuration ${CRANE_CONFIG_FILE}`, status: repo.configured ? 'done' : 'present', detail: `Crane reads ${isv.craneDataDir}; ${runWith}` });
  // ensure() names the app last; a new app got its environment from rhc app create.
  if (repo.configured && outcomes.at(-1)?.status !== 'created') {
    const configured = await platform.configureApp();
    if (configured) record(fromOutcome(configured));
  }
  return remote;
}

/**
 * `raas setup`: the original's workflow for a new ISV — storage, Crane app, base-image
 * metadata, registry check, configuration repository — each step reporting whether it made
 * something or found it there, so a second run changes nothing and says so.
 */
export async function setup(request: SetupRequest): Promise<SetupReport> {
  const { logger, signal } = request;
  const { config, isv, added } = await resolveSection(request.config, request.isvName, request.flags, request.env);
  const store = openStore(isv, config.aws, logger);
  const steps: SetupStep[] = [];
  const record: Record = (step) => {
    steps.push(step);
    const level = step.status === 'failed' ? 'error' : step.status === 'warning' ? 'warn' : 'info';
    logger[level](`${step.step}: ${step.status}${step.detail ? ` (${step.detail})` : ''}`);
  };
  try {
    const platform = openPlatform(isv, config.openshift, logger, signal);
    const baseFiles = await loadBaseMetadata(config.redhat.metadata, signal, config.dir, config.pulp.timeouts);
    const storageFound = await preflight(request, config, isv, store, platform);

    if (!storageFound) await createStorage(store);
    record({ step: storageName(store), status: storageFound ? 'present' : 'done', detail: storageFound ? undefined : 'created' });
    if (isv.platform.kind === 'none') {
      // A stock registry reads the store through its driver: clients never fetch from it directly.
      record(await checkWritable(store, signal));
      record({ step: 'Crane app', status: 'skipped', detail: `none: platform = none; a stock registry serves the store (raas registry-config ${isv.name} prints its configuration)` });
      const registry = isv.registryUrl;
      if (registry === undefined) {
        record({ step: 'registry', status: 'skipped', detail: 'no registry_url set: status and push name no registry to check' });
      } else {
        // A stock registry serves /v2/ only; it may well be started after setup, so not answering is a warning.
        const ping = await checkRegistry(registry, { signal });
        record(ping.v2 === true
          ? { step: `registry ${registry}`, status: 'ok', detail: ping.detail }
          : { step: `registry ${registry}`, status: 'warning', detail: ping.detail, fix: `start a stock registry with the configuration raas registry-config ${isv.name} prints` });
      }
      if (request.commit) {
        for (const step of await saveToConfigRepo(request, config, isv.name, added?.text)) record(step);
      } else {
        record({ step: 'configuration repository', status: added ? 'warning' : 'skipped', detail: added ? 'left alone (--no-commit): add the section below to raas.cfg yourself' : 'left alone (--no-commit)' });
      }
      return {
        isv: isv.name, ok: !steps.some((s) => s.status === 'failed'), changed: steps.some((s) => s.status === 'done'), registry: registry ?? storageName(store), steps,
        unsavedSection: request.commit ? undefined : added?.section,
      };
    }
    record(await checkClientAccess(store, config.aws, signal));

    const remote = await appSteps(request, config, isv, platform, record);

    if (baseFiles.length === 0) {
      record({ step: 'base-image metadata', status: 'present', detail: 'none configured ([redhat] metadata)' });
    } else {
      const deployed = await deployMetadata({
        remote, workDir: path.join(request.workDir, 'app'), dataDir: isv.craneDataDir, files: baseFiles.map((f) => ({ name: f.name, text: f.text })),
        message: `raas setup ${isv.name}: base-image metadata`, logger, signal,
      });
      record({ step: 'base-image metadata', status: deployed.changed ? 'done' : 'present', detail: `${baseFiles.map((f) => f.name).join(', ')} in ${isv.craneDataDir}` });
    }

    const registry = isv.registryUrl ?? (await platform.registryUrl());
    const ping = await checkRegistry(registry, { attempts: REGISTRY_ATTEMPTS, delayMs: REGISTRY_DELAY_MS, signal });
    record(ping.v1
      ? { step: `registry ${registry}`, status: 'ok', detail: ping.detail }
      : { step: `registry ${registry}`, status: 'failed', detail: `${ping.detail} after ${ping.attempts} attempts`, fix: registryFix(isv) });

    if (request.commit) {
      for (const step of await saveToConfigRepo(request, config, isv.name, added?.text)) record(step);
    } else {
      record({ step: 'configuration repository', status: added ? 'warning' : 'skipped', detail: added ? 'left alone (--no-commit): add the section below to raas.cfg yourself' : 'left alone (--no-commit)' });
    }
    return {
      isv: isv.name, ok: !steps.some((s) => s.status === 'failed'), changed: steps.some((s) => s.status === 'done'), registry, steps,
      unsavedSection: request.commit ? undefined : added?.section,
    };
  } finally {
    await store.close();
  }
}

/**
 * The front end of the git platform: raas serve, on the host and port registry_url names
 * (behind a TLS proxy, registry_url is the proxy's URL and raas serve listens where the
 * proxy forwards to; README, "raas serve").
 */
function serveCommand(isv: IsvConfig): string {
  const url = isv.registryUrl === undefined || !URL.canParse(isv.registryUrl) ? undefined : new URL(isv.registryUrl);
  const plainHttp = url?.protocol === 'http:';
  const listen = plainHttp ? ` --listen ${url.hostname === 'localhost' ? '127.0.0.1' : url.hostname}:${url.port || '80'}` : '';
  return `raas serve ${isv.name}${listen}`;
}

function registryFix(isv: IsvConfig): string {
  return isv.platform.kind === 'git'
    ? `start the front end where registry_url points: ${serveCommand(isv)} (README, "raas serve": systemd, TLS proxy), or the Crane you run`
    : 'check that the Crane app runs (rhc tail) and serves registry_url';
}

/** Step 5: the section (when setup made it), the ISV's directories and this run's log, in one commit. */
async function saveToConfigRepo(request: SetupRequest, config: Config, isv: string, newText: string | undefined): Promise<SetupStep[]> {
  const repoDir = request.configRepo.dir;
  // A working copy holds what anyone with push access committed: nothing is written through a link.
  const files = new WorktreeFiles(repoDir, 'configuration repository');
  const also: string[] = [];
  if (newText !== undefined) {
    const rel = path.relative(repoDir, config.file).split(path.sep).join('/');
    await files.write(rel, newText);
    also.push(rel);
  }
  // metadata/ fills with push's backups and logs/ with every run's log; git keeps no empty directory.
  const keep = path.posix.join(isv, 'metadata', '.gitkeep');
  await files.check(keep, 'a file');
  const madeKeep = !existsSync(path.join(repoDir, keep));
  if (madeKeep) await files.write(keep, '');
  also.push(keep);
  const saved = await request.configRepo.backup({ isv, command: 'setup', metadata: [], logFile: request.runLog, also });
  return [
    { step: `raas.cfg [${isv}]`, status: newText === undefined ? 'present' : 'done', detail: newText === undefined ? undefined : 'added from the options' },
    { step: `directories ${isv}/metadata, ${isv}/logs`, status: madeKeep ? 'done' : 'present' },
    {
      step: 'configuration repository', status: 'ok',
      detail: saved.commit ? `committed ${saved.commit.slice(0, 12)}${saved.pushed ? ' and pushed' : ''}, with this run's log` : 'nothing to commit',
    },
  ];
}
