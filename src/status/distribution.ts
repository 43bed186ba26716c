import pLimit from 'p-limit';
import type { Config, IsvConfig } from '../config/config.ts';
import { RaasError } from '../errors.ts';
import { recordName } from '../layout/distribution/keys.ts';
import { parseRecord } from '../layout/distribution/layout.ts';
import { checkDistributionImage, type DistributionImage } from '../layout/distribution/status.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';
import type { Store } from '../storage/store.ts';
import { check, type Check } from './checks.ts';
import { checkRegistry } from '../platform/ping.ts';

const RECORD_SUFFIX = recordName('');
const MAX_RECORD_BYTES = 4 * 1024 * 1024;

/**
 * Status of an ISV whose images a stock registry serves from the Distribution layout: no
 * Crane app to clone; the images are those the configuration repository has records of
 * (or the one named), checked in storage as the registry resolves them, and through the
 * registry when registry_url is set.
 */
export async function distributionStatus(options: {
  readonly config: Config;
  readonly isv: IsvConfig;
  readonly store: Store;
  readonly storageOk: boolean;
  readonly image: string | undefined;
  readonly configDir: string;
  readonly signal: AbortSignal;
}): Promise<{ checks: Check[]; images: DistributionImage[] }> {
  const { isv, signal } = options;
  if (isv.layout.kind !== 'distribution') throw new Error('distributionStatus: not a distribution ISV');
  const checks: Check[] = [];
  const registry = isv.registryUrl === undefined ? undefined : withSlash(isv.registryUrl);
  let answering = false;
  if (registry !== undefined) {
    const ping = await checkRegistry(registry, { signal });
    answering = ping.v2 === true;
    checks.push(check('registry', isv.registryUrl!, answering ? 'ok' : 'failed', answering ? ping.detail : `${ping.detail}: no Docker v2 registry answers there; tags not checked`));
  }
  let images: DistributionImage[];
  try {
    images = await recordedImages(options.configDir, isv.name, options.image);
  } catch (error) {
    if (!(error instanceof RaasError)) throw error;
    return { checks: [...checks, check('records', isv.name, 'failed', error.describe())], images: [] };
  }
  if (images.length === 0) checks.push(check('records', isv.name, 'warning', `no image of ${isv.name} is recorded in the configuration repository (${isv.name}/metadata/*${RECORD_SUFFIX}): nothing pushed yet`));
  if (!options.storageOk) return { checks, images };
  const ctx = {
    store: options.store, root: { root: isv.layout.rootDirectory }, registry: answering ? registry : undefined,
    concurrency: options.config.aws.maxConcurrency, signal,
  };
  const limit = pLimit(options.config.aws.maxConcurrency);
  checks.push(...(await limit.map(images, (image) => checkDistributionImage(ctx, image))).flat());
  return { checks, images };
}

/** The records push left in `<isv>/metadata/`, read as part of the working copy (no link followed); only `image` when named. */
async function recordedImages(configDir: string, isv: string, image: string | undefined): Promise<DistributionImage[]> {
  const files = new WorktreeFiles(configDir, 'configuration repository');
  const listed = await files.listJson(`${isv}/metadata`, { maxBytes: MAX_RECORD_BYTES, maxTotalBytes: 16 * MAX_RECORD_BYTES, maxFiles: 10_000, recursive: false });
  const images = listed
    .filter((f) => f.name.endsWith(RECORD_SUFFIX))
    .map((f) => parseRecord(f.text))
    .filter((r): r is NonNullable<typeof r> => r !== undefined)
    .map((r) => ({ name: r.repository, recorded: r.tags }));
  if (image === undefined) return images;
  const found = images.filter((i) => i.name === image);
  // An image pushed without a record (--no-commit) is still checked in storage.
  return found.length > 0 ? found : [{ name: image, recorded: {} }];
}

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);
