import type { Config } from '../config/config.ts';
import { InputError } from '../errors.ts';
import { toDigest } from '../image/digest.ts';
import type { LayerHost } from '../image/hosted.ts';
import type { LayerDigester } from '../image/layer-digests.ts';
import { maskedLayersFromCraneFiles, partitionMasked, type LayerKeys } from '../image/mask.ts';
import type { ImageRepository, V1Image } from '../image/model.ts';
import type { Logger } from '../log.ts';
import { loadBaseMetadata, type MetadataFile } from './base-metadata.ts';
import { hostedBlobs } from './base-v2.ts';

export interface Masking {
  /** The base party's Crane files, deployed beside the ISV's own so Crane can redirect masked layers. */
  readonly baseFiles: readonly MetadataFile[];
  /** The images whose layers are the ISV's own. */
  readonly published: readonly V1Image[];
  /** Masked images, with where their host serves each layer (undefined: only the mask list names it). */
  readonly masked: ReadonlyMap<string, LayerHost>;
}

export interface MaskOptions {
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** The push's one reading pass per layer: a layer without declared digests is hashed there to be matched by content. */
  readonly digests: LayerDigester;
  /** Whether Crane v1 clients are served (layout crane): they reach a masked layer only through a base v1 file listing its id. */
  readonly v1Clients: boolean;
}

/** A layer's content digests: declared by the archive, else from the push's reading pass (a plain tar's diff_id is its digest). */
const contentOf = (digests: LayerDigester) => async (image: V1Image): Promise<LayerKeys> => {
  const read = await digests(image);
  const layerDigest = image.layerDigest ?? toDigest(read.sha256);
  return { layerDigest, diffId: image.diffId ?? read.diffId ?? toDigest(read.sha256) };
};

/**
 * Which layers another party hosts: those `[redhat] mask_layers` names, and those its Crane
 * metadata (`[redhat] metadata`) describes, by v1 id (version 1 files) or by content
 * (the manifests and configs version 3 and 4 files name). Every tag must name one of the
 * ISV's own images.
 */
export async function maskLayers(config: Config, repo: ImageRepository, tags: ReadonlyMap<string, string>, options: MaskOptions): Promise<Masking> {
  const { logger, signal } = options;
  const timeouts = config.pulp.timeouts;
  const baseFiles = await loadBaseMetadata(config.redhat.metadata, signal, config.dir, timeouts);
  const v1 = maskedLayersFromCraneFiles(baseFiles.map((f) => ({ name: f.origin, text: f.text })));
  const hosted = await hostedBlobs(baseFiles, { signal, timeouts, logger });
  const { upload: published, masked } = await partitionMasked(repo, { v1, listed: config.redhat.maskLayers, hosted }, contentOf(options.digests));
  for (const [id, host] of masked) {
    logger.info(`Skipping layer ${id}${typeof host === 'object' ? ` (hosted at ${host.url})` : ''}`);
    if (options.v1Clients && typeof host === 'object' && !v1.has(id)) {
      logger.warn(`masked layer ${id} is listed in no base-image v1 metadata file: Docker v1 clients cannot fetch it (Crane v1 redirects a layer only to a repository whose file lists its id)`);
    }
  }
  if (published.length === 0 && repo.images.length > 0) {
    throw new InputError('every layer of the image is masked: there is nothing to publish', { where: '[redhat] mask_layers / metadata', fix: 'check the mask list and the image' });
  }
  const own = new Set(published.map((i) => i.id));
  for (const [tag, id] of tags) {
    if (!own.has(id)) throw new InputError(`tag ${tag} points to masked image ${id}`, { where: 'archive tags', fix: 'tags must name the ISV\'s own top layer' });
  }
  return { baseFiles, published, masked };
}
