import path from 'node:path';
import type { Config, IsvConfig } from '../config/config.ts';
import { flatImageName, imageRule, tagRule } from '../config/names.ts';
import type { ConfigRepo } from '../configrepo/repo.ts';
import { ConfigError, ExitCode, InputError, OperationError, RaasError } from '../errors.ts';
import { obtainArchive } from '../fetch/archive-source.ts';
import type { DownloadOptions } from '../fetch/download.ts';
import { openDigestCache, type DigestCache } from '../image/digest-cache.ts';
import { layerDigester, type LayerDigester } from '../image/layer-digests.ts';
import type { ArchiveLimits } from '../image/limits.ts';
import type { ImageRepository } from '../image/model.ts';
import { readArchive } from '../image/read.ts';
import { verifyLayers } from '../image/verify.ts';
import { v1MetadataName } from '../layout/crane-v1/keys.ts';
import { v2MetadataName } from '../layout/crane-v2/keys.ts';
import type { V2Report } from '../layout/crane-v2/layout.ts';
import type { DistributionReport } from '../layout/distribution/layout.ts';
import { clientsCanFetch, type LayoutObject, type LayoutPlan } from '../layout/layout.ts';
import { layoutsOf } from '../layout/layouts.ts';
import type { Logger } from '../log.ts';
import { openPlatform } from '../platform/open.ts';
import { checkRegistry } from '../platform/ping.ts';
import { openJournal, recoverAbandonedWrites } from '../storage/journal.ts';
import { openStore } from '../storage/open.ts';
import type { ListedObject, Store } from '../storage/store.ts';
import type { NamedText } from '../platform/gitrepo.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';
import { checkFrontEnd, deployFrontEnd, frontEndFiles, openCraneApp, servedCopies } from './crane-app.ts';
import { maskLayers } from './masks.ts';
import { checkFlatNameOwner } from './owner.ts';
import { writeStaged, type WriteProgress } from './write.ts';

export interface PushRequest {
  readonly config: Config;
  readonly isv: IsvConfig;
  readonly image: string;
  readonly file: string | undefined;
  /** `--tag`: published beside the archive's own tags. */
  readonly tag: string | undefined;
  /** `--only-tag`: the one tag published; the archive's own are not. */
  readonly onlyTag?: string | undefined;
  readonly dryRun: boolean;
  readonly jobs: number;
  readonly commit: boolean;
  readonly cwd: string;
  readonly workDir: string;
  readonly runLog: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly configRepo: ConfigRepo;
  readonly progress?: { readonly download?: DownloadOptions['onProgress']; readonly upload?: WriteProgress };
  /** Bounds on what the archive may claim (RAAS_ARCHIVE_LIMITS); the defaults otherwise. */
  readonly limits?: Partial<ArchiveLimits>;
  /** Where incomplete writes are journaled, so a run after a crash can abort them (see storage/journal.ts). */
  readonly journalDir?: string;
  /** Where layer digests of earlier pushes are kept (see image/digest-cache.ts); undefined: read every layer. */
  readonly digestCacheDir?: string;
}

export interface PushReport {
  readonly isv: string;
  readonly image: string;
  readonly dryRun: boolean;
  readonly archive: { readonly origin: string; readonly format: ImageRepository['format'] };
  readonly storage: string;
  readonly url: string;
  readonly tags: Record<string, string>;
  /** Objects written; `copiedFrom` names the key of another app they were copied from. */
  readonly uploaded: readonly { key: string; size: number; copiedFrom?: string }[];
  readonly present: readonly string[];
  readonly masked: readonly string[];
  /** The Docker Registry v2 layout and its redirect file (layout = crane). */
  readonly v2: V2Report | undefined;
  /** The Distribution layout (layout = distribution). */
  readonly distribution: DistributionReport | undefined;
  readonly metadata: { readonly file: string; readonly remote: string; readonly changed: boolean; readonly commit: string | undefined } | undefined;
  readonly backup: { readonly commit: string | undefined } | undefined;
  readonly registry: { readonly url: string | undefined; readonly answered: boolean | undefined };
  readonly pull: string;
}

/**
 * The tags to publish: the archive's own, plus `--tag` for the image they (or its single top
 * image) name; or, with `--only-tag`, that one tag alone (for the image the archive tags so,
 * else the one image it holds).
 */
export function resolveTags(repo: ImageRepository, tag: string | undefined, onlyTag?: string): Map<string, string> {
  if (tag !== undefined && onlyTag !== undefined) throw new ConfigError('--tag and --only-tag exclude each other', { where: '--tag, --only-tag', fix: 'pass one of them' });
  if (onlyTag !== undefined) {
    const broken = tagRule(onlyTag);
    if (broken) throw new ConfigError(`'${onlyTag}' is not a valid tag: ${broken}`, { where: '--only-tag' });
    const own = repo.tags.get(onlyTag);
    return new Map([[onlyTag, own ?? onlyTarget(repo, '--only-tag')]]);
  }
  if (tag === undefined) {
    // Tags only the v2 layouts can publish (no Docker v1 image) come with the archive's manifests.
    if (repo.tags.size === 0 && (repo.manifests?.size ?? 0) > 0) return new Map();
    if (repo.tags.size === 0) {
      throw new InputError('the archive names no tag', { where: 'archive', fix: 'pass --tag <tag> or --only-tag <tag>' });
    }
    return new Map(repo.tags);
  }
  const broken = tagRule(tag);
  if (broken) throw new ConfigError(`'${tag}' is not a valid tag: ${broken}`, { where: '--tag' });
  return new Map([...repo.tags, [tag, onlyTarget(repo, '--tag')]]);
}

/** The one image a tag given on the command line can name: the one the archive's tags name, or its single top image. */
function onlyTarget(repo: ImageRepository, option: string): string {
  if (repo.images.length === 0) {
    throw new InputError(`${option} renames an image through its Docker v1 view, and this archive has none (zstd layers, no linux/amd64 image, or artifacts only)`, {
      where: option, fix: 'push the archive with its own tags (no --tag or --only-tag)',
    });
  }
  const targets = new Set(repo.tags.values());
  if (targets.size === 0) {
    const parents = new Set(repo.images.map((i) => i.parent));
    repo.images.filter((i) => !parents.has(i.id)).forEach((i) => targets.add(i.id));
  }
  if (targets.size !== 1) {
    throw new InputError(`${option} is ambiguous: the archive holds ${targets.size} different images`, { where: option, fix: 'push an archive of one image, or use the tags it carries' });
  }
  return [...targets][0]!;
}

/**
 * `raas push`: read and validate everything first (config, archive, masks, bucket, Crane
 * app repository), and plan every layout; then write the layouts' objects in stages; then
 * deploy the front-end metadata that references them; then settle and back up. A failure
 * at any step leaves clients seeing what they saw before, and a rerun skips what is
 * already stored.
 */
export async function push(request: PushRequest): Promise<PushReport> {
  const { config, isv, image, logger, signal } = request;
  const brokenImage = imageRule(image);
  if (brokenImage) throw new ConfigError(`'${image}' is not a valid image name: ${brokenImage}`, { where: 'argument <image>' });
  const name = { isv: isv.name, image, flat: flatImageName(image) };
  const journal = request.journalDir !== undefined && !request.dryRun ? openJournal(request.journalDir) : undefined;
  // --jobs bounds requests in flight too, not only objects: parts of one layer count.
  const store = openStore(isv, { ...config.aws, maxConcurrency: request.jobs }, logger, journal);
  let cache: DigestCache | undefined;
  // Digests are kept only from an archive that passed every check: a refused one leaves nothing behind.
  let accepted = false;
  try {
    const platform = openPlatform(isv, config.openshift, logger);

    // Read: the archive, its tags, and which of its layers another party hosts.
    const archive = await obtainArchive({
      isv: isv.name, image, file: request.file, cwd: request.cwd, exportUrl: config.pulp.exportUrl,
      workDir: request.workDir, logger, signal, maxDownloadBytes: 64 * 1024 ** 3, timeouts: config.pulp.timeouts, onProgress: request.progress?.download,
    });
    const repo = await readArchive(archive.path, { workDir: request.workDir, logger, limits: request.limits, signal });
    logger.info(`Read ${repo.format} archive ${archive.origin}: ${repo.images.length} layers, tags ${[...repo.tags.keys()].join(', ') || '(none)'}`);
    if (repo.archiveName && repo.archiveName !== image) logger.warn(`the archive calls the image ${repo.archiveName}; publishing it as ${image}`);
    const tags = resolveTags(repo, request.tag, request.onlyTag);
    // Each layer is read once before it is sent (not at all when an earlier push of this
    // archive file read it); masking by content and every layout share that pass.
    if (request.digestCacheDir !== undefined) cache = await openDigestCache(request.digestCacheDir, archive.path);
    const digests = layerDigester((size) => store.partSize?.(size), cache, signal);
    const layouts = layoutsOf(isv);
    const masking = await maskLayers(config, repo, tags, { logger, signal, digests, v1Clients: layouts.some((l) => l.name === 'crane-v1') });

    // Check what will be written to, before anything is.
    await store.check({ write: false });
    // A stock registry reads the store itself: no Crane app is deployed to.
    const app = layouts.some((l) => l.servedBy === 'crane') ? await openCraneApp(platform, isv, request.workDir, signal) : undefined;
    const registryUrl = isv.registryUrl ?? (app ? await platform.registryUrl() : undefined);
    const listing = await listOnce(store, layouts.flatMap((l) => l.prefixes(name)));
    if (app) await checkFlatNameOwner({ ...name, dataDir: app.dataDir, files: [v1MetadataName(isv.name, name.flat), v2MetadataName(isv.name, name.flat)], deployed: app.current, store, listing });

    // Plan every layout.
    const input = { ...name, store, repo, tags, published: masking.published, masked: masking.masked, listing, digests, concurrency: request.jobs * 2, logger };
    const plans: LayoutPlan[] = [];
    for (const layout of layouts) {
      const plan = await layout.plan(input);
      // A layer that is not what its archive declares is refused as soon as a layout would store it.
      await verifyDeclaredDigests(plan.write, request.jobs, digests);
      plans.push(plan);
    }
    const objects = plans.flatMap((p) => p.write);
    if (request.commit) {
      await request.configRepo.checkBackup(isv.name, backupNames(plans));
      // A record the backup could not merge (another image's) is refused now, not after the writes.
      await records(request.configRepo, isv.name, plans);
    }
    const files = app && frontEndFiles(masking.baseFiles, plans, app.dataDir, logger);
    if (app) checkFrontEnd(app, files!);
    warnUnfetchable(plans, isv.name, logger);
    accepted = true;
    if (cache?.hits) logger.info(`Digests of ${cache.hits} layer${cache.hits === 1 ? '' : 's'} from an earlier push of this archive file, not read again (--rehash reads them)`);
    // The write probe comes after every check of the archive, so a refused archive leaves storage untouched.
    if (!request.dryRun) await store.check({ write: true });

    const first = plans[0]!;
    const reportOf = <R>(layout: LayoutPlan['layout']) => plans.find((p) => p.layout === layout)?.report as R | undefined;
    const report = (extra: Partial<PushReport>): PushReport => ({
      isv: isv.name, image, dryRun: request.dryRun,
      archive: { origin: archive.origin, format: repo.format },
      storage: store.location, url: first.report.url, tags: Object.fromEntries(tags),
      uploaded: first.write.map((o) => ({ key: o.key, size: o.size, ...(o.copyFrom ? { copiedFrom: o.copyFrom } : {}) })),
      present: first.present.map((o) => o.key), masked: [...masking.masked.keys()],
      v2: reportOf<V2Report>('crane-v2'),
      distribution: reportOf<DistributionReport>('distribution'),
      metadata: undefined, backup: undefined, registry: { url: registryUrl, answered: undefined },
      pull: pullReference(registryUrl, image),
      ...extra,
    });
    if (request.dryRun) return report({});

    // Write, in stages, after aborting what killed runs left incomplete.
    if (request.journalDir !== undefined) {
      const aborted = await recoverAbandonedWrites(request.journalDir, store, logger);
      if (aborted > 0) logger.info(`Aborted ${aborted} incomplete upload${aborted === 1 ? '' : 's'} that killed runs left in ${store.location}`);
    }
    await writeStaged({ store, objects, jobs: request.jobs, logger, progress: request.progress?.upload, signal, digests });

    // Deploy the front end, then settle what overlapping pushes may have left short.
    const deployed = app && await afterWrites('the objects uploaded are in storage, and nothing was deployed', () =>
      deployFrontEnd(app, files!, { workDir: request.workDir, logger, signal, message: `raas push ${isv.name} ${image} (${[...tags.keys()].join(', ')})` }));
    if (app && deployed) logger.info(deployed.changed ? `Deployed ${app.dataDir}/${v1MetadataName(isv.name, name.flat)} to the Crane app (${deployed.commit.slice(0, 12)})` : 'The Crane app already serves this metadata');
    for (const plan of plans) await plan.afterDeploy?.(signal);

    let answered: boolean | undefined;
    if (isv.platform.kind === 'openshift' && registryUrl) {
      const ping = await checkRegistry(registryUrl, { attempts: 5, delayMs: 2000, signal });
      answered = ping.v1;
      if (!answered) logger.error(`the registry at ${registryUrl} does not answer /v1/_ping (${ping.detail})`);
    }

    // Back up what the front end serves, with this run's log.
    let backup: PushReport['backup'];
    if (request.commit) {
      const done = await afterWrites('the push is deployed; only its backup is missing, which a rerun writes', () => request.configRepo.backup({
        isv: isv.name, command: 'push', image,
        metadata: async () => [
          ...(app && deployed ? await servedCopies(app, deployed, plans, request.workDir, signal) : []),
          ...(await records(request.configRepo, isv.name, plans)),
        ],
        logFile: request.runLog,
      }));
      backup = { commit: done.commit };
    }
    const result = report({
      metadata: app && deployed ? { file: `${app.dataDir}/${v1MetadataName(isv.name, name.flat)}`, remote: app.remote, changed: deployed.changed, commit: deployed.commit } : undefined,
      backup, registry: { url: registryUrl, answered },
    });
    if (answered === false) throw new OperationError(`published, but the registry at ${registryUrl} does not answer`, { fix: 'check the Crane app with rhc app show / rhc tail' });
    return result;
  } finally {
    if (accepted) await cache?.save();
    await store.close();
    journal?.close();
  }
}

/** One listing of the store under each distinct prefix the layouts need (a prefix inside another is covered by it). */
async function listOnce(store: Store, prefixes: readonly string[]): Promise<Map<string, ListedObject>> {
  const distinct = [...new Set(prefixes)].filter((p, _, all) => !all.some((q) => q !== p && p.startsWith(q)));
  const listings = await Promise.all(distinct.map((p) => store.list(p)));
  return new Map(listings.flatMap((l) => [...l]));
}

/** Layers whose archive declares a digest are checked against it before anything is stored; the writer checks the rest as it sends them. */
async function verifyDeclaredDigests(objects: readonly LayoutObject[], jobs: number, digests: LayerDigester): Promise<void> {
  const layers = [...new Set(objects.filter((o) => o.layer?.layerDigest && !o.copyFrom).map((o) => o.layer!))];
  if (layers.length > 0) await verifyLayers(layers, { concurrency: jobs, digests });
}

/** The configuration repository paths (under `<isv>/metadata/`) the backup writes. */
function backupNames(plans: readonly LayoutPlan[]): string[] {
  return plans.flatMap((p) => [p.frontEnd?.backupName, p.record?.name]).filter((n): n is string => n !== undefined);
}

/** The layouts' records, each merged with the copy the configuration repository holds now (after the backup caught up with its remote). */
async function records(configRepo: ConfigRepo, isv: string, plans: readonly LayoutPlan[]): Promise<NamedText[]> {
  const files = new WorktreeFiles(configRepo.dir, 'configuration repository');
  const out: NamedText[] = [];
  for (const plan of plans) {
    if (!plan.record) continue;
    const where = path.posix.join(isv, 'metadata', plan.record.name);
    const previous = await files.read(where, { maxBytes: MAX_RECORD_BYTES });
    out.push({ name: plan.record.name, text: plan.record.text(previous, where) });
  }
  return out;
}

const MAX_RECORD_BYTES = 4 * 1024 * 1024;

function warnUnfetchable(plans: readonly LayoutPlan[], isv: string, logger: Logger): void {
  // Only Crane sends clients to the store; a registry reading it streams or signs URLs itself.
  const url = plans.find((p) => p.frontEnd)?.report.url;
  if (url !== undefined && !clientsCanFetch(url)) {
    logger.warn(`the metadata sends clients to ${url}, which no registry client can fetch: set public_url in [${isv}] to the http(s) URL a web server publishes the storage at`);
  }
}

/**
 * A step after storage was written: a refusal there (the Crane app repository changed
 * since it was checked) no longer means "nothing changed", so it fails with exit 1.
 */
async function afterWrites<T>(state: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof RaasError) || error.exitCode !== ExitCode.usage) throw error;
    throw new OperationError(error.message, {
      where: error.where,
      fix: `${error.fix ? `${error.fix}; ` : ''}${state}`,
      cause: error,
    });
  }
}

/** `registry.example.com/acme/app` from the registry URL and the image name. */
export function pullReference(registryUrl: string | undefined, image: string): string {
  if (!registryUrl) return image;
  const url = new URL(registryUrl);
  return `${url.host}/${image}`;
}
