import type { Config, IsvConfig } from '../config/config.ts';
import { flatImageName, imageRule, tagRule } from '../config/names.ts';
import type { ConfigRepo } from '../configrepo/repo.ts';
import { checkRegistry } from '../platform/ping.ts';
import { openPlatform } from '../platform/open.ts';
import { ConfigError, ExitCode, InputError, OperationError, RaasError } from '../errors.ts';
import { obtainArchive } from '../fetch/archive-source.ts';
import type { DownloadOptions } from '../fetch/download.ts';
import { maskedLayersFromCraneFiles, partitionMasked } from '../image/mask.ts';
import type { ImageRepository, V1Image } from '../image/model.ts';
import type { ArchiveLimits } from '../image/limits.ts';
import { readArchive } from '../image/read.ts';
import { openDigestCache, type DigestCache } from '../image/digest-cache.ts';
import { layerDigester, type LayerDigester } from '../image/layer-digests.ts';
import { verifyLayers } from '../image/verify.ts';
import { silentLogger, type Logger } from '../log.ts';
import { openJournal, recoverAbandonedWrites } from '../storage/journal.ts';
import { openStore } from '../storage/open.ts';
import { checkAppRemote, checkMetadataPlan, deployedNow, deployMetadata, readDeployedMetadata } from '../crane/deploy.ts';
import { loadBaseMetadata } from './base-metadata.ts';
import { appPrefix, clientsCanFetch } from './layout.ts';
import { nextRedirectFile } from '../crane/metadata.ts';
import { checkFlatNameOwner } from './owner.ts';
import { v2MetadataName } from './v2/layout.ts';
import { planUploads, type PlannedObject } from './plan.ts';
import { uploadAll, type UploadProgress } from './upload.ts';
import { prepareV2, type V2Report } from './v2/publish.ts';

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
  readonly progress?: { readonly download?: DownloadOptions['onProgress']; readonly upload?: UploadProgress };
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
  /** The Docker Registry v2 layout and its redirect file. */
  readonly v2: V2Report;
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
 * `raas push`: everything is read and validated first (config, archive, masks, bucket,
 * Crane app repository); then layers are uploaded; then metadata that references them is
 * deployed; then the backup is committed. A failure at any step leaves clients seeing
 * what they saw before, and a rerun skips what is already uploaded.
 */
export async function push(request: PushRequest): Promise<PushReport> {
  const { config, isv, image, logger, signal } = request;
  const brokenImage = imageRule(image);
  if (brokenImage) throw new ConfigError(`'${image}' is not a valid image name: ${brokenImage}`, { where: 'argument <image>' });
  const flat = flatImageName(image);
  const journal = request.journalDir !== undefined && !request.dryRun ? openJournal(request.journalDir) : undefined;
  // --jobs bounds requests in flight too, not only objects: parts of one layer count.
  const store = openStore(isv, { ...config.aws, maxConcurrency: request.jobs }, logger, journal);
  let cache: DigestCache | undefined;
  // Digests are kept only from an archive that passed every check: a refused one leaves nothing behind.
  let accepted = false;
  try {
    const platform = openPlatform(isv, config.openshift, logger);

    const archive = await obtainArchive({
      isv: isv.name, image, file: request.file, cwd: request.cwd, exportUrl: config.pulp.exportUrl,
      workDir: request.workDir, logger, signal, maxDownloadBytes: 64 * 1024 ** 3, timeouts: config.pulp.timeouts, onProgress: request.progress?.download,
    });
    const repo = await readArchive(archive.path, { workDir: request.workDir, logger, limits: request.limits, signal });
    logger.info(`Read ${repo.format} archive ${archive.origin}: ${repo.images.length} layers, tags ${[...repo.tags.keys()].join(', ') || '(none)'}`);
    if (repo.archiveName && repo.archiveName !== image) logger.warn(`the archive calls the image ${repo.archiveName}; publishing it as ${image}`);
    const tags = resolveTags(repo, request.tag, request.onlyTag);

    const baseFiles = await loadBaseMetadata(config.redhat.metadata, signal, config.dir, config.pulp.timeouts);
    const hosted = maskedLayersFromCraneFiles(baseFiles.map((f) => ({ name: f.origin, text: f.text })));
    const masks = new Set([...config.redhat.maskLayers, ...hosted.keys()]);
    const { upload: published, masked } = partitionMasked(repo, masks);
    for (const layer of masked) logger.info(`Skipping layer ${layer.id}`);
    if (published.length === 0) {
      throw new InputError('every layer of the image is masked: there is nothing to publish', { where: '[redhat] mask_layers / metadata', fix: 'check the mask list and the image' });
    }
    const publishedIds = new Set(published.map((i) => i.id));
    for (const [tag, id] of tags) {
      if (!publishedIds.has(id)) throw new InputError(`tag ${tag} points to masked image ${id}`, { where: 'archive tags', fix: 'tags must name the ISV\'s own top layer' });
    }

    await store.check({ write: false });
    const remote = await platform.appRemote();
    await checkAppRemote(remote, signal);
    const registryUrl = isv.registryUrl ?? (await platform.registryUrl());
    const dataDir = isv.craneDataDir;
    const metadataName = `${isv.name}-${flat}.json`;
    const url = store.publicUrl(appPrefix(flat));
    if (!clientsCanFetch(url)) {
      logger.warn(`the metadata sends clients to ${url}, which no registry client can fetch: set public_url in [${isv.name}] to the http(s) URL a web server publishes the storage at`);
    }

    const listing = await store.list(appPrefix(flat));
    // What this push will rewrite is checked before anything is written: the redirect files
    // must be this image's and of a shape raas can add to (deploy checks them again).
    const current = new Map((await readDeployedMetadata(remote, dataDir, `${request.workDir}/app-read`, { signal })).map((f) => [f.name, f.text]));
    await checkFlatNameOwner({ image, flat, dataDir, files: [metadataName, v2MetadataName(isv.name, flat)], deployed: current, store, listing });
    if (request.commit) await request.configRepo.checkBackup(isv.name, [`${flat}.json`, `${flat}@v2.json`]);
    // Each layer is read once before it is sent (not at all when an earlier push of this
    // archive file read it); every step below shares that pass.
    if (request.digestCacheDir !== undefined) cache = await openDigestCache(request.digestCacheDir, archive.path);
    const digests = layerDigester((size) => store.partSize?.(size), cache, signal);
    const hashLayer = async (layer: V1Image) => (await digests(layer)).sha256;
    const plan = await planUploads({ store, flatName: flat, images: published, listing, hashLayer, concurrency: request.jobs * 2 });
    await verifyDeclaredDigests(plan.upload, request.jobs, digests);
    const copies = plan.upload.filter((o) => o.copyFrom !== undefined).length;
    logger.info(`${plan.upload.length} objects to upload (${copies} by copying another app's), ${plan.present.length} already in ${store.location}`);
    const v2 = await prepareV2({ store, isv: isv.name, flatName: flat, image, repo, tags, masked: new Map(masked.map((m) => [m.id, hosted.get(m.id)])), listing, jobs: request.jobs, logger, digests });
    // The files deploy will write, from what the Crane app holds when it deploys.
    const metadataFiles = (now: ReadonlyMap<string, string>, log = logger) => [
      ...baseFiles.map((f) => ({ name: f.name, text: f.text })),
      {
        name: metadataName,
        text: nextRedirectFile(
          { repository: `${isv.name}-${flat}`, registryId: image, url, imageIds: published.map((i) => i.id), tags },
          now.has(metadataName) ? { file: `${dataDir}/${metadataName}`, text: now.get(metadataName)! } : undefined,
          log,
        ),
      },
      v2.redirectFile(now),
    ];
    // Computed once on what is deployed now, so that a refusal comes before anything is written.
    checkMetadataPlan(dataDir, current, metadataFiles(current, silentLogger()));
    accepted = true;
    if (cache?.hits) logger.info(`Digests of ${cache.hits} layer${cache.hits === 1 ? '' : 's'} from an earlier push of this archive file, not read again (--rehash reads them)`);
    // The write probe comes after every check of the archive, so a refused archive leaves storage untouched.
    if (!request.dryRun) await store.check({ write: true });

    const report = (extra: Partial<PushReport>): PushReport => ({
      isv: isv.name, image, dryRun: request.dryRun,
      archive: { origin: archive.origin, format: repo.format },
      storage: store.location, url, tags: Object.fromEntries(tags),
      uploaded: plan.upload.map((o) => ({ key: o.key, size: o.size, ...(o.copyFrom ? { copiedFrom: o.copyFrom } : {}) })),
      present: plan.present.map((o) => o.key), masked: masked.map((m) => m.id), v2: v2.report,
      metadata: undefined, backup: undefined, registry: { url: registryUrl, answered: undefined },
      pull: pullReference(registryUrl, image),
      ...extra,
    });
    if (request.dryRun) return report({});

    if (request.journalDir !== undefined) {
      const aborted = await recoverAbandonedWrites(request.journalDir, store, logger);
      if (aborted > 0) logger.info(`Aborted ${aborted} incomplete upload${aborted === 1 ? '' : 's'} that killed runs left in ${store.location}`);
    }

    await uploadAll({ store, objects: plan.upload, jobs: request.jobs, logger, progress: request.progress?.upload, signal, digests });
    await v2.write(signal);

    const deployed = await afterWrites('the objects uploaded are in storage, and nothing was deployed', () => deployMetadata({
      remote, workDir: `${request.workDir}/app`, dataDir, logger, signal,
      message: `raas push ${isv.name} ${image} (${[...tags.keys()].join(', ')})`,
      files: metadataFiles,
    }));
    logger.info(deployed.changed ? `Deployed ${dataDir}/${metadataName} to the Crane app (${deployed.commit?.slice(0, 12)})` : 'The Crane app already serves this metadata');
    await v2.settleTagList(signal);

    let answered: boolean | undefined;
    if (isv.platform.kind === 'openshift' && registryUrl) {
      const ping = await checkRegistry(registryUrl, { attempts: 5, delayMs: 2000, signal });
      answered = ping.v1;
      if (!answered) logger.error(`the registry at ${registryUrl} does not answer /v1/_ping (${ping.detail})`);
    }

    let backup: PushReport['backup'];
    if (request.commit) {
      const done = await afterWrites('the push is deployed; only its backup is missing, which a rerun writes', () => request.configRepo.backup({
        isv: isv.name, command: 'push', image,
        // As the Crane app serves it when the backup lands: another run may have deployed since.
        metadata: async () => {
          const now = await deployedNow(remote, deployed, { dataDir, workDir: `${request.workDir}/app`, signal });
          const text = (name: string) => now.get(name) ?? deployed.files.get(name)!;
          return [{ name: `${flat}.json`, text: text(metadataName) }, { name: `${flat}@v2.json`, text: text(v2.metadataName) }];
        },
        logFile: request.runLog,
      }));
      backup = { commit: done.commit };
    }
    const result = report({
      metadata: { file: `${dataDir}/${metadataName}`, remote, changed: deployed.changed, commit: deployed.commit },
      backup, registry: { url: registryUrl, answered },
    });
    if (answered === false) throw new OperationError(`published, but the registry at ${registryUrl} does not answer`, { fix: 'check the Crane app with rhc app show / rhc tail' });
    return result;
  } finally {
    if (accepted) await cache?.save();
    await store.close();
    journal?.close();
  }

  async function verifyDeclaredDigests(objects: readonly PlannedObject[], jobs: number, digests: LayerDigester): Promise<void> {
    const layers: V1Image[] = objects.filter((o) => o.kind === 'layer' && o.image.layerDigest && !o.copyFrom).map((o) => o.image);
    if (layers.length > 0) await verifyLayers(layers, { concurrency: jobs, digests });
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
