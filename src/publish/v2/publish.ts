import pLimit from 'p-limit';
import { IntegrityError } from '../../errors.ts';
import { sha256Hex } from '../../image/digest.ts';
import type { LayerDigester } from '../../image/layer-digests.ts';
import type { Digest, ImageRepository } from '../../image/model.ts';
import type { Logger } from '../../log.ts';
import type { ListedObject, Store } from '../../storage/store.ts';
import { listedTags, manifestKey, tagsListBody, tagsListKey, v2MetadataName, v2Prefix } from './layout.ts';
import { nextV2RedirectFile } from '../../crane/metadata.ts';
import { planV2, type V2Object } from './plan.ts';

/**
 * Docker Registry HTTP API v2 for what a push publishes: a Docker schema 2 manifest per
 * tag in Pulp's v2 web layout under `<app>/v2/`, and a Crane version 3 redirect file
 * beside the v1 one. Masked layers are never stored: Crane's v2 API redirects blobs only
 * into the repository's own url, so their descriptors are foreign layers whose `urls`
 * name where the host's Crane metadata says it serves them (what containerd and
 * containers/image fetch). A tag with a masked layer whose host is unknown gets no v2
 * manifest, and says so.
 */
export interface V2Report {
  /** Where clients fetch the v2 layout (the redirect file's url). */
  readonly url: string;
  /** tag -> digest of its manifest (`docker pull <image>@<digest>` works too). */
  readonly manifests: Readonly<Record<string, Digest>>;
  /** Keys written (or, in a dry run, to write); the ISV's layers of 1 MiB and more are server-side copies of the v1 layer objects. */
  readonly uploaded: readonly { readonly key: string; readonly size: number; readonly copied: boolean }[];
  readonly present: readonly string[];
  /** tag -> the masked image without a known host that keeps it from v2 clients. */
  readonly unservable: Readonly<Record<string, string>>;
}

export interface V2Publication {
  readonly metadataName: string;
  readonly report: V2Report;
  /** Write the layout, after the v1 layer objects are in place and before any metadata is deployed. */
  write(signal: AbortSignal): Promise<void>;
  /** The v2 redirect file to deploy, given the deployed files by name. */
  redirectFile(deployed: ReadonlyMap<string, string>): { name: string; text: string };
  /** After deploying: make tags/list name every tag whose manifest is stored, whatever pushes overlapped. */
  settleTagList(signal: AbortSignal): Promise<void>;
}

/** Rounds of settleTagList before giving up; each needs another push to write the list in between. */
const SETTLE_ROUNDS = 5;

export interface V2Options {
  readonly store: Store;
  readonly isv: string;
  readonly flatName: string;
  readonly image: string;
  readonly repo: ImageRepository;
  readonly tags: ReadonlyMap<string, string>;
  /** Masked images, with the URL their host serves each layer at (undefined: not known). */
  readonly masked: ReadonlyMap<string, string | undefined>;
  /** The one listing of the app's prefix the push made (it covers `<app>/v2/`). */
  readonly listing: ReadonlyMap<string, ListedObject>;
  readonly jobs: number;
  readonly logger: Logger;
  /** The push's one reading pass per layer. */
  readonly digests: LayerDigester;
}

export async function prepareV2(options: V2Options): Promise<V2Publication> {
  const { store, flatName, image, logger } = options;
  const plan = await planV2({
    store, flatName, registryId: image, repo: options.repo, tags: options.tags,
    masked: options.masked, listing: options.listing, concurrency: options.jobs * 2, digests: options.digests,
  });
  const url = store.publicUrl(v2Prefix(flatName));
  const metadataName = v2MetadataName(options.isv, flatName);
  for (const [tag, id] of plan.unservable) {
    logger.warn(`v2: tag ${tag} is not published for Docker v2 clients: masked layer ${id} has no known host (name it in a base-image metadata file with a url)`);
  }
  logger.info(`v2: ${plan.write.length} objects to write (${plan.write.filter((o) => o.copyFrom).length} copied from v1 layers), ${plan.present.length} already there`);
  return {
    metadataName,
    report: {
      url,
      manifests: Object.fromEntries([...plan.manifests].map(([tag, m]) => [tag, m.digest])),
      uploaded: plan.write.map((o) => ({ key: o.key, size: o.size, copied: o.copyFrom !== undefined })),
      present: plan.present.map((o) => o.key),
      unservable: Object.fromEntries(plan.unservable),
    },
    async write(signal) {
      for (const stage of [0, 1, 2, 3] as const) {
        await writeAll(store, plan.write.filter((o) => o.stage === stage), options.jobs, signal, logger);
      }
    },
    async settleTagList(signal) {
      await settleTagList(store, flatName, image, [...plan.manifests.keys()], signal, logger);
    },
    redirectFile(deployed) {
      const schema2 = [...plan.manifests.keys(), ...new Set([...plan.manifests.values()].map((m) => m.digest))];
      const input = { repository: `${options.isv}-${flatName}`, registryId: image, url, schema2 };
      const previous = deployed.get(metadataName);
      return { name: metadataName, text: nextV2RedirectFile(input, previous === undefined ? undefined : { file: metadataName, text: previous }, logger) };
    },
  };
}

/**
 * Overlapping pushes of one image each planned tags/list from the listing they started
 * with, so the last to write it may have left out a tag the other pushed. So after
 * deploying, every push lists the tag manifests, writes the list (unless it already holds
 * exactly that), and lists again until nothing is missing. The last push to write the
 * list checks after its write, and sees every tag manifest stored before that check: each
 * push stores its tag manifests before it deploys, and writes the list after.
 */
async function settleTagList(store: Store, flatName: string, registryId: string, own: readonly string[], signal: AbortSignal, logger: Logger): Promise<void> {
  const key = tagsListKey(flatName);
  let written: ReadonlySet<string> | undefined;
  for (let round = 0; round < SETTLE_ROUNDS; round++) {
    signal.throwIfAborted();
    const [manifests, stored] = await Promise.all([store.list(manifestKey(flatName, '')), store.stat(key)]);
    const tags = new Set([...listedTags(flatName, manifests.keys()), ...own]);
    if (written && [...tags].every((tag) => written!.has(tag))) return;
    const body = tagsListBody(registryId, tags);
    if (stored?.sha256 !== sha256Hex(body)) {
      await store.put(key, body, { contentType: 'application/json', signal });
      if (written) logger.info(`v2: tags/list rewritten: another push of ${registryId} overlapped this one`);
    }
    written = tags;
  }
  logger.warn(`v2: ${key} still misses tags after ${SETTLE_ROUNDS} rounds of overlapping pushes; the next push of ${registryId} lists them`);
}

/** Like uploadAll: the first failure stops the rest, and nothing is left running when this returns. */
async function writeAll(store: Store, objects: readonly V2Object[], jobs: number, signal: AbortSignal, logger: Logger): Promise<void> {
  const limit = pLimit(Math.max(1, jobs));
  const failed = new AbortController();
  const stop = AbortSignal.any([signal, failed.signal]);
  const one = async (object: V2Object) => {
    stop.throwIfAborted();
    try {
      if (object.copyFrom === undefined) {
        await store.put(object.key, object.body, { contentType: object.contentType, sha256: object.sha256, signal: stop });
      } else {
        // The v1 object was written or checked by this push, with its sha256 recorded; the copy carries it.
        const source = await store.stat(object.copyFrom);
        if (source?.sha256 !== object.sha256) {
          throw new IntegrityError(`${object.copyFrom} does not hold the layer ${object.key} names (sha256 ${source?.sha256 ?? 'not recorded'})`, {
            where: `${store.location}${object.copyFrom}`,
            fix: 'another process changed the object during the push; run the push again',
          });
        }
        await store.copy(object.copyFrom, object.key);
      }
    } catch (error) {
      failed.abort(error);
      throw error;
    }
    logger.debug({ key: object.key, size: object.size, copied: object.copyFrom !== undefined }, `wrote ${object.key}`);
  };
  const settled = await Promise.allSettled(objects.map((object) => limit(() => one(object))));
  const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected.length > 0) throw (rejected.find((s) => s.reason === failed.signal.reason) ?? rejected[0]!).reason;
}
