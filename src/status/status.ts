import path from 'node:path';
import pLimit from 'p-limit';
import type { Config, IsvConfig } from '../config/config.ts';
import { flatImageName, imageRule } from '../config/names.ts';
import type { ConfigRepo } from '../configrepo/repo.ts';
import { CRANE_CONFIG_FILE, craneDataDirSetting } from '../crane/config-file.ts';
import { lintRedirectFiles } from '../crane/lint.ts';
import { ConfigError, RaasError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';
import { openPlatform } from '../platform/open.ts';
import { checkRegistry } from '../platform/ping.ts';
import type { Platform } from '../platform/platform.ts';
import { pullReference } from '../publish/push.ts';
import { READY_PATH } from '../serve/server.ts';
import { openStore } from '../storage/open.ts';
import type { Store } from '../storage/store.ts';
import { recordName } from '../layout/distribution/keys.ts';
import { distributionStatus } from './distribution.ts';
import { attempt, check, describeSummary, summarize, type Check, type Outcome } from './checks.ts';
import { publishedImages, readAppRepository, type DeployedApp, type PublishedImage } from './deployed.ts';
import { request } from './http.ts';
import { checkImage } from './image.ts';

export interface StatusRequest {
  readonly config: Config;
  readonly isv: IsvConfig;
  /** Check only this image (`name` or `namespace/name`). */
  readonly image: string | undefined;
  /** Warnings fail too. */
  readonly strict: boolean;
  /** Append this run's log to the configuration repository. */
  readonly commit: boolean;
  readonly workDir: string;
  readonly runLog: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly configRepo: ConfigRepo;
}

export interface ImageListing {
  readonly image: string;
  readonly tags: readonly string[];
  readonly pull: string;
  /** The redirect file in the app repository. */
  readonly metadata: string;
}

export interface StatusReport {
  /** What the exit code says: nothing failed (and, with strict, nothing warned). */
  readonly ok: boolean;
  readonly isv: string;
  readonly image: string | null;
  readonly strict: boolean;
  readonly registry: string | null;
  readonly summary: Record<Outcome, number>;
  readonly checks: readonly Check[];
  readonly images: readonly ImageListing[];
}

interface Located {
  readonly checks: readonly Check[];
  readonly remote: string | undefined;
  readonly registry: string | undefined;
}

/** Where the app repository is and where the registry answers; on OpenShift, whether the domain and app exist. */
async function locateApp(platform: Platform, isv: IsvConfig): Promise<Located> {
  if (platform.kind === 'git') return { checks: [], remote: await platform.appRemote(), registry: isv.registryUrl };
  const checks = (await platform.ensure({ createDomain: false, createApp: false })).map((o) => {
    const [name = o.step, ...subject] = o.step.split(' ');
    return check(name, subject.join(' '), o.status === 'present' ? 'ok' : 'failed', o.status === 'present' ? (o.detail ?? 'exists') : `missing: ${o.detail ?? ''}`);
  });
  if (checks.some((c) => c.outcome !== 'ok')) return { checks, remote: undefined, registry: isv.registryUrl };
  return { checks, remote: await platform.appRemote(), registry: isv.registryUrl ?? (await platform.registryUrl()) };
}

/** What raas serve says it serves (GET /_raas/ready); undefined when the registry is not raas serve. */
interface RaasServe {
  readonly ready: boolean;
  readonly commit: string | null;
  readonly repositories: number;
}

async function raasServeReadiness(url: string, signal: AbortSignal): Promise<RaasServe | undefined> {
  const answer = await request(new URL(READY_PATH.slice(1), withSlash(url)), 'GET', signal, 'application/json', 64 * 1024);
  if (answer.status !== 200 && answer.status !== 503) return undefined;
  try {
    const said = JSON.parse(answer.body.toString('utf8')) as Partial<RaasServe>;
    if (typeof said.ready !== 'boolean') return undefined;
    return { ready: said.ready, commit: typeof said.commit === 'string' ? said.commit : null, repositories: typeof said.repositories === 'number' ? said.repositories : 0 };
  } catch {
    return undefined;
  }
}

/** The registry's check, whether it serves the Docker v2 API (where v2 tags are resolved), and whether it is raas serve. */
async function registryCheck(url: string, signal: AbortSignal): Promise<{ check: Check; v2: boolean; raasServe: RaasServe | undefined }> {
  const [ping, raasServe] = await Promise.all([checkRegistry(url, { attempts: 1, signal }), raasServeReadiness(url, signal)]);
  const outcome = ping.v1 ? (ping.v2 === false ? 'warning' : 'ok') : 'failed';
  const which = raasServe ? ' (raas serve)' : '';
  return { check: check('registry', url, outcome, ping.v1 ? `${ping.detail}${which}` : `${ping.detail}${which}; tags not checked`), v2: ping.v1 && ping.v2 === true, raasServe };
}

/**
 * raas serve fetches the app repository every --poll seconds and serves the last commit it
 * read completely: it should be the one status just cloned.
 */
function servedDataCheck(url: string, served: RaasServe, app: DeployedApp | undefined): Check {
  if (!served.ready) return check('registry-data', url, 'failed', 'raas serve has not loaded the app repository yet: it serves nothing (see its log)');
  const head = app?.commit;
  const what = `commit ${served.commit?.slice(0, 12) ?? '(a data directory)'}, ${served.repositories} ${served.repositories === 1 ? 'repository' : 'repositories'}`;
  if (served.commit === null || head === undefined || served.commit === head) return check('registry-data', url, 'ok', `raas serve serves ${what}${head && served.commit === head ? ', the app repository\'s latest' : ''}`);
  return check('registry-data', url, 'warning', `raas serve serves ${what}, but the app repository is at ${head.slice(0, 12)}: it fetches every --poll seconds; if this persists, see its log`);
}

function craneConfigCheck(isv: IsvConfig, platform: 'openshift' | 'git', text: string | undefined, raasServe: boolean): Check {
  // raas serve reads the data directory from raas.cfg; crane.conf is only for a Crane.
  if (raasServe) return check('crane-config', CRANE_CONFIG_FILE, 'ok', `not needed: the registry is raas serve, which reads ${isv.craneDataDir} itself`);
  const wanted = craneDataDirSetting(platform, isv.craneDataDir);
  const actual = text === undefined ? undefined : /^\s*data_dir\s*[:=]\s*(.*?)\s*$/m.exec(text)?.[1];
  if (actual === wanted) return check('crane-config', CRANE_CONFIG_FILE, 'ok', `data_dir: ${actual}`);
  const found = text === undefined ? `there is no ${CRANE_CONFIG_FILE}, so Crane reads its default data_dir` : `data_dir is ${actual ?? 'not set'}`;
  return check('crane-config', CRANE_CONFIG_FILE, 'warning', `${found}, not ${wanted} where raas deploys: run raas setup ${isv.name}`);
}

function lintChecks(dataDir: string, app: DeployedApp): Check[] {
  const paths = app.files.map((f) => `${dataDir}/${f.name}`);
  const problems = lintRedirectFiles(app.files.map((f, i) => ({ path: paths[i]!, text: f.text })));
  return paths.map((file) => {
    const mine = problems.filter((p) => p.file === file);
    const outcome = mine.some((p) => p.severity === 'error') ? 'failed' : mine.length > 0 ? 'warning' : 'ok';
    return check('lint', file, outcome, mine.length > 0 ? mine.map((p) => `${p.severity}: ${p.message}`).join('; ') : 'valid');
  });
}

/** The images to check: all the ISV's, or the one named, which must be published. */
function selectImages(isv: IsvConfig, app: DeployedApp, image: string | undefined): { images: PublishedImage[]; checks: Check[] } {
  const all = publishedImages(isv.name, app.files);
  if (image === undefined) return { images: all, checks: [] };
  const found = all.filter((i) => i.name === image);
  if (found.length > 0) return { images: found, checks: [] };
  const file = `${isv.name}-${flatImageName(image)}.json`;
  const why = app.files.some((f) => f.name === file)
    ? `${isv.craneDataDir}/${file} is not version 1 metadata of ${image} (see lint)`
    : `not published: there is no ${isv.craneDataDir}/${file} in the app repository`;
  return { images: [], checks: [check('image', image, 'failed', why)] };
}

/**
 * `raas status`: independent checks run side by side (platform, storage, registry, the app
 * repository), then the images at most `[aws] max_concurrency` at a time. Nothing is
 * written to the bucket or the app; a part that cannot be reached is a failed check, not
 * the end of the report.
 */
export async function status(request: StatusRequest): Promise<StatusReport> {
  const { config, isv, logger, signal } = request;
  if (request.image !== undefined && imageRule(request.image)) {
    throw new ConfigError(`'${request.image}' is not a valid image name: ${imageRule(request.image)}`, { where: 'argument [image]' });
  }
  const store = openStore(isv, config.aws, logger);
  try {
    if (isv.layout.kind === 'distribution') return await finish(request, await registryServed(request, store));
    const platform = openPlatform(isv, config.openshift, logger, signal);
    const storage = attempt('storage', store.location, async () => {
      await store.check({ write: false });
      return check('storage', store.location, 'ok', 'exists and can be read');
    });
    // rhc failing (credentials, server) is the app's check failing.
    const located = await locateApp(platform, isv).catch((error: unknown) => {
      if (!(error instanceof RaasError)) throw error;
      return { checks: [check('app', isv.name, 'failed', error.describe())], remote: undefined, registry: isv.registryUrl };
    });
    const repository = located.remote === undefined ? undefined : cloneApp(located.remote, isv, path.join(request.workDir, 'app'), signal);
    const pinged = located.registry === undefined ? undefined : await registryCheck(located.registry, signal);
    const { app, checks: cloned } = (await repository) ?? { app: undefined, checks: [] };
    const registry = pinged ? [pinged.check, ...(pinged.raasServe ? [servedDataCheck(located.registry!, pinged.raasServe, app)] : [])] : [];
    const checks: Check[] = [...located.checks, ...(await storage), ...cloned, ...registry];

    let images: PublishedImage[] = [];
    if (app && platform.kind !== 'none') {
      const selected = selectImages(isv, app, request.image);
      images = selected.images;
      checks.push(craneConfigCheck(isv, platform.kind, app.craneConfig, pinged?.raasServe !== undefined), ...lintChecks(isv.craneDataDir, app), ...selected.checks);
      const ctx = {
        isv: isv.name, dataDir: isv.craneDataDir, configDir: request.configRepo.dir, signal,
        store: checks.some((c) => c.check === 'storage' && c.outcome === 'failed') ? undefined : store,
        registry: registry[0]?.outcome === 'failed' || located.registry === undefined ? undefined : withSlash(located.registry),
        registryV2: pinged?.v2 ?? false, concurrency: config.aws.maxConcurrency,
      };
      const limit = pLimit(config.aws.maxConcurrency);
      checks.push(...(await limit.map(images, (image) => checkImage(ctx, image))).flat());
    }

    return await finish(request, {
      checks, registry: located.registry,
      images: images.map((i) => ({ image: i.name, tags: Object.keys(i.tags), pull: pullReference(located.registry, i.name), metadata: `${isv.craneDataDir}/${i.file}` })),
    });
  } finally {
    await store.close();
  }
}

interface Checked {
  readonly checks: Check[];
  readonly registry: string | undefined;
  readonly images: readonly ImageListing[];
}

/** The report: every check to the run's log, the log to the configuration repository, the summary. */
async function finish(request: StatusRequest, checked: Checked): Promise<StatusReport> {
  const { isv, logger } = request;
  const checks = [...checked.checks];
  // Every check goes to the run's log; the terminal gets them once, in the report on stdout.
  for (const c of checks) logger.debug(`${c.check} ${c.subject}: ${c.outcome === 'ok' ? '' : `${c.outcome}: `}${c.detail}`);
  logger.info(`status of ${isv.name}: ${describeSummary(summarize(checks))}`);
  if (request.commit) checks.push(...(await appendLog(request)));
  const counted = summarize(checks);
  return {
    ok: counted.failed === 0 && (!request.strict || counted.warning === 0),
    isv: isv.name, image: request.image ?? null, strict: request.strict, registry: checked.registry ?? null, summary: counted, checks, images: checked.images,
  };
}

/** An ISV a stock registry serves (layout = distribution): storage, records, and the registry; no Crane app. */
async function registryServed(request: StatusRequest, store: Store): Promise<Checked> {
  const { isv } = request;
  const storage = await attempt('storage', store.location, async () => {
    await store.check({ write: false });
    return check('storage', store.location, 'ok', 'exists and can be read');
  });
  const found = await distributionStatus({
    config: request.config, isv, store, storageOk: storage.every((c) => c.outcome === 'ok'), image: request.image,
    configDir: request.configRepo.dir, signal: request.signal,
  });
  return {
    checks: [...storage, ...found.checks], registry: isv.registryUrl,
    images: found.images.map((i) => ({
      image: i.name, tags: Object.keys(i.recorded), pull: pullReference(isv.registryUrl, i.name),
      metadata: `${isv.name}/metadata/${recordName(flatImageName(i.name))}`,
    })),
  };
}

async function cloneApp(remote: string, isv: IsvConfig, workDir: string, signal: AbortSignal): Promise<{ app: DeployedApp | undefined; checks: Check[] }> {
  const shown = scrub(remote);
  try {
    const app = await readAppRepository(remote, isv.craneDataDir, workDir, signal);
    return { app, checks: [check('app-repository', shown, 'ok', `cloned; ${app.files.length} metadata files in ${isv.craneDataDir}`)] };
  } catch (error) {
    if (!(error instanceof RaasError)) throw error;
    return { app: undefined, checks: [check('app-repository', shown, 'failed', error.describe())] };
  }
}

/** The log goes to the configuration repository like every command's; failing to write it does not make the registry unhealthy. */
async function appendLog(request: StatusRequest): Promise<Check[]> {
  try {
    await request.configRepo.backup({ isv: request.isv.name, command: 'status', image: request.image, metadata: [], logFile: request.runLog });
    return [];
  } catch (error) {
    if (!(error instanceof RaasError)) throw error;
    return [check('log', 'configuration repository', 'warning', `this run's log was not saved: ${error.describe()}`)];
  }
}

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);
