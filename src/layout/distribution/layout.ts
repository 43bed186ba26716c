import { InputError } from '../../errors.ts';
import { digestHex, isDigest, sha256Hex } from '../../image/digest.ts';
import { BLOB_CONTENT_TYPE } from '../../image/media-types.ts';
import type { Digest } from '../../image/model.ts';
import type { LayerHost } from '../../image/hosted.ts';
import { v2Images, v2ImagesOf, type V2Image } from '../../image/v2-images.ts';
import type { LayoutObject, LayoutPlan, LayoutReport, PublishInput, StorageLayout } from '../layout.ts';
import { splitPresent } from '../present.ts';
import {
  blobDataKey, blobsPrefix, layerLinkKey, linkBody, recordName, repositoryPrefix, revisionLinkKey, tagCurrentKey, tagIndexKey, type DistributionRoot,
} from './keys.ts';

export interface DistributionOptions {
  /** The registry driver's rootdirectory within the store: "" or "a/b/". */
  readonly root: string;
  /**
   * `skip`: masked layers stay with their host, named in the manifests as foreign layers
   * with its URL (clients that follow descriptor urls fetch them there); `upload`: they are
   * stored like the ISV's own, so every client can pull through the registry.
   */
  readonly maskedLayers: 'skip' | 'upload';
}

export interface DistributionReport extends LayoutReport {
  /** The repository's name in the registry (the image name). */
  readonly repository: string;
  /** tag -> digest of its manifest. */
  readonly manifests: Readonly<Record<string, Digest>>;
  readonly uploaded: readonly { readonly key: string; readonly size: number }[];
  readonly present: readonly string[];
  /** tag -> the masked image without a known host that keeps it unpublished. */
  readonly unservable: Readonly<Record<string, string>>;
}

/**
 * Stages, so that a registry reading the store never finds a link to a missing blob or a
 * tag to a missing manifest: blobs (layers, configs, manifests), then the repository's
 * `_layers` links, then manifest revisions, then each tag's index entry, then the tag's
 * `current` link, which is what makes the tag resolve.
 */
const BLOBS = 0;
const LAYER_LINKS = 1;
const REVISIONS = 2;
const TAG_INDEX = 3;
const TAG_CURRENT = 4;

/**
 * Publishing straight into a stock Distribution registry's storage: what `docker push`
 * through the registry would have left there, without the upload protocol. No Crane app
 * serves it, so the configuration repository keeps a record of each image's tags and
 * manifest digests instead of a redirect file.
 */
export function distributionLayout(options: DistributionOptions): StorageLayout {
  const r: DistributionRoot = { root: options.root };
  return {
    name: 'distribution',
    servedBy: 'registry',
    prefixes: (image) => [repositoryPrefix(r, image.image)],
    async plan(input: PublishInput): Promise<LayoutPlan> {
      const { store, image: name, logger } = input;
      const foreign = options.maskedLayers === 'upload' ? new Map<string, LayerHost>() : input.masked;
      const images = await v2Images({ repo: input.repo, tags: input.tags, foreign, digests: input.digests, concurrency: input.concurrency });
      for (const [tag, why] of images.rebuilt) logger.warn(`distribution: tag ${tag} is published as ${why}`);
      for (const [tag, id] of images.unservable) {
        logger.warn(`tag ${tag} is not published: masked layer ${id} has no known host (name it in a base-image metadata file with a url, or set masked_layers = upload in [${input.isv}])`);
      }

      const objects = new Map<string, LayoutObject>();
      const add = (object: LayoutObject) => {
        if (!objects.has(object.key)) objects.set(object.key, object);
      };
      const small = (key: string, body: Buffer, stage: number): LayoutObject => ({ key, body, size: body.length, contentType: BLOB_CONTENT_TYPE, sha256: sha256Hex(body), stage });
      const link = (key: string, digest: Digest, stage: number) => add(small(key, linkBody(digest), stage));
      // Every manifest is a blob and a revision of the repository; an index's children are stored before it.
      const manifestRevision = (digest: Digest, bytes: Buffer) => {
        add(small(blobDataKey(r, digest), bytes, BLOBS));
        link(revisionLinkKey(r, name, digest), digest, REVISIONS);
      };
      const image = ({ digest, bytes, config, layers }: V2Image) => {
        for (const { source, facts, foreign: hosted } of layers) {
          // A foreign layer's descriptor sends clients to its host; the registry never serves it.
          if (hosted) continue;
          add({ key: blobDataKey(r, facts.digest), body: source.layer, layer: source, size: facts.size, contentType: BLOB_CONTENT_TYPE, sha256: digestHex(facts.digest), stage: BLOBS });
          link(layerLinkKey(r, name, facts.digest), facts.digest, LAYER_LINKS);
        }
        add(small(blobDataKey(r, config.digest), config.bytes, BLOBS));
        link(layerLinkKey(r, name, config.digest), config.digest, LAYER_LINKS);
        manifestRevision(digest, bytes);
      };
      for (const m of images.tags.values()) {
        v2ImagesOf(m).forEach(image);
        if (m.kind === 'index') manifestRevision(m.digest, m.bytes);
      }
      images.referrers.forEach(image);
      for (const [tag, m] of images.tags) {
        link(tagIndexKey(r, name, tag, m.digest), m.digest, TAG_INDEX);
        link(tagCurrentKey(r, name, tag), m.digest, TAG_CURRENT);
      }

      const blobs = blobsPrefix(r);
      const { write, present } = await splitPresent({
        store, listing: input.listing, objects: [...objects.values()], concurrency: input.concurrency,
        // Blobs are shared by the store's repositories, outside the one listed: each is asked for.
        unlisted: (key) => key.startsWith(blobs),
        // A blob or a link whose path names its digest holds what its path says (whoever wrote
        // it: a registry verifies what it stores); only a tag's current link can change.
        trustUnrecorded: (object) => !object.key.endsWith('/current/link'),
      });
      const stored = write.filter((o) => o.key.startsWith(blobs));
      logger.info(`distribution: ${write.length} objects to write (${stored.length} blobs), ${present.length} already in ${store.location}${options.root}`);
      const manifests: Record<string, Digest> = Object.fromEntries([...images.tags].map(([tag, m]) => [tag, m.digest]));
      const report: DistributionReport = {
        url: store.publicUrl(options.root), repository: name, manifests,
        uploaded: write.map((o) => ({ key: o.key, size: o.size })),
        present: present.map((o) => o.key),
        unservable: Object.fromEntries(images.unservable),
      };
      return {
        layout: 'distribution',
        write, present, report,
        record: {
          name: recordName(input.flat),
          text: (previous, where) => recordText(name, manifests, previous, where),
        },
      };
    },
  };
}

/** What the configuration repository keeps of a published image: its tags' manifest digests, earlier pushes' tags included. */
export interface DistributionRecord {
  readonly repository: string;
  readonly tags: Readonly<Record<string, Digest>>;
}

/**
 * The record after this push: the previous one's tags (when readable), then this push's.
 * Two image names can flatten to one record name (`acme/app`, `acme-app`): a record of the
 * other image is refused, never replaced.
 */
export function recordText(repository: string, manifests: Readonly<Record<string, Digest>>, previous: string | undefined, where: string): string {
  const earlier = previous === undefined ? undefined : parseRecord(previous);
  if (earlier !== undefined && earlier.repository !== repository) {
    throw new InputError(`${where} records '${earlier.repository}', not '${repository}': both names become the same record file`, {
      where: `configuration repository ${where}`,
      fix: `push '${repository}' under a name that does not turn into the same name when "/" becomes "-"`,
    });
  }
  const tags = { ...earlier?.tags, ...manifests };
  const sorted = Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${JSON.stringify({ repository, tags: sorted }, null, 2)}\n`;
}

/** A record as raas wrote it; undefined for anything else. */
export function parseRecord(text: string): DistributionRecord | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const { repository, tags } = data as { repository?: unknown; tags?: unknown };
  if (typeof repository !== 'string' || typeof tags !== 'object' || tags === null || Array.isArray(tags)) return undefined;
  const entries = Object.entries(tags as Record<string, unknown>).filter((e): e is [string, Digest] => typeof e[1] === 'string' && isDigest(e[1]));
  return { repository, tags: Object.fromEntries(entries) };
}
