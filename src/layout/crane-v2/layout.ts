import { nextV2RedirectFile } from '../../crane/metadata.ts';
import { sha256Hex } from '../../image/digest.ts';
import type { Digest } from '../../image/model.ts';
import { v2Images, v2ImagesOf } from '../../image/v2-images.ts';
import type { Logger } from '../../log.ts';
import type { Store } from '../../storage/store.ts';
import { appPrefix } from '../crane-v1/keys.ts';
import type { LayoutPlan, LayoutReport, PublishInput, StorageLayout } from '../layout.ts';
import { listedTags, manifestsPrefix, tagsListBody, tagsListKey, v2MetadataName, v2Prefix } from './keys.ts';
import { planV2Objects } from './plan.ts';

/**
 * Docker Registry HTTP API v2 for what a push publishes: per tag the archive's manifest or
 * index (or a Docker schema 2 manifest built for it) in Pulp's v2 web layout under
 * `<app>/v2/`, and a Crane redirect file beside the v1 one (version 3, or 4 with lists). Masked layers are never stored: Crane's v2 API redirects blobs only
 * into the repository's own url, so their descriptors are foreign layers whose `urls`
 * name where the host's Crane metadata says it serves them (what containerd and
 * containers/image fetch). A tag with a masked layer whose host is unknown gets no v2
 * manifest, and says so.
 */
export interface V2Report extends LayoutReport {
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

/** Rounds of settleTagList before giving up; each needs another push to write the list in between. */
const SETTLE_ROUNDS = 5;

export const craneV2: StorageLayout = {
  name: 'crane-v2',
  servedBy: 'crane',
  // The v1 prefix holds the v2 layout: one listing serves both.
  prefixes: (image) => [appPrefix(image.flat)],
  async plan(input: PublishInput): Promise<LayoutPlan> {
    const { store, flat, image, isv, logger } = input;
    const images = await v2Images({ repo: input.repo, tags: input.tags, foreign: input.masked, digests: input.digests, concurrency: input.concurrency });
    for (const [tag, why] of images.rebuilt) logger.warn(`v2: tag ${tag} is published as ${why}`);
    const { write, present } = await planV2Objects({ store, flatName: flat, registryId: image, images, listing: input.listing, concurrency: input.concurrency });
    const url = store.publicUrl(v2Prefix(flat));
    const name = v2MetadataName(isv, flat);
    for (const [tag, id] of images.unservable) {
      logger.warn(`v2: tag ${tag} is not published for Docker v2 clients: masked layer ${id} has no known host (name it in a base-image metadata file with a url)`);
    }
    logger.info(`v2: ${write.length} objects to write (${write.filter((o) => o.copyFrom).length} copied from v1 layers), ${present.length} already there`);
    const report: V2Report = {
      url,
      manifests: Object.fromEntries([...images.tags].map(([tag, m]) => [tag, m.digest])),
      uploaded: write.map((o) => ({ key: o.key, size: o.size, copied: o.copyFrom !== undefined })),
      present: present.map((o) => o.key),
      unservable: Object.fromEntries(images.unservable),
    };
    // What the redirect file lists: tags and digests of single manifests (schema2_data), of lists (version 4), and each list's amd64 image.
    const schema2 = [
      ...[...images.tags].filter(([, m]) => m.kind === 'image').map(([tag]) => tag),
      ...new Set([...[...images.tags.values()].flatMap(v2ImagesOf), ...images.referrers].map((i) => i.digest)),
    ];
    const lists = [...images.tags].filter(([, m]) => m.kind === 'index').flatMap(([tag, m]) => [tag, m.digest]);
    const amd64 = new Map([...images.tags].flatMap(([tag, m]) => {
      const image = m.kind === 'index' ? m.manifests.find((i) => i.platform?.os === 'linux' && i.platform.architecture === 'amd64') : undefined;
      return image ? [[tag, image.digest] as const] : [];
    }));
    return {
      layout: 'crane-v2',
      write, present, report,
      frontEnd: {
        name,
        backupName: `${flat}@v2.json`,
        file: (deployed, log) => {
          const previous = deployed.get(name);
          const text = nextV2RedirectFile({ repository: `${isv}-${flat}`, registryId: image, url, schema2, lists, amd64 }, previous === undefined ? undefined : { file: name, text: previous }, log);
          return { name, text };
        },
      },
      afterDeploy: (signal) => settleTagList(store, flat, image, [...images.tags.keys()], signal, logger),
    };
  },
};

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
    const [manifests, stored] = await Promise.all([store.list(manifestsPrefix(flatName)), store.stat(key)]);
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
