import type { Config } from '../config/config.ts';
import { InputError } from '../errors.ts';
import { maskedLayersFromCraneFiles, partitionMasked } from '../image/mask.ts';
import type { ImageRepository, V1Image } from '../image/model.ts';
import type { Logger } from '../log.ts';
import { loadBaseMetadata, type MetadataFile } from './base-metadata.ts';

export interface Masking {
  /** The base party's Crane files, deployed beside the ISV's own so Crane can redirect masked layers. */
  readonly baseFiles: readonly MetadataFile[];
  /** The images whose layers are the ISV's own. */
  readonly published: readonly V1Image[];
  /** Masked images, with the URL their host serves each layer at (undefined: only the mask list names it). */
  readonly masked: ReadonlyMap<string, string | undefined>;
}

/**
 * Which layers another party hosts: those `[redhat] mask_layers` names, and those its Crane
 * metadata (`[redhat] metadata`) lists. Every tag must name one of the ISV's own images.
 */
export async function maskLayers(config: Config, repo: ImageRepository, tags: ReadonlyMap<string, string>, logger: Logger, signal: AbortSignal): Promise<Masking> {
  const baseFiles = await loadBaseMetadata(config.redhat.metadata, signal, config.dir, config.pulp.timeouts);
  const hosted = maskedLayersFromCraneFiles(baseFiles.map((f) => ({ name: f.origin, text: f.text })));
  const { upload: published, masked } = partitionMasked(repo, [...config.redhat.maskLayers, ...hosted.keys()]);
  for (const layer of masked) logger.info(`Skipping layer ${layer.id}`);
  if (published.length === 0) {
    throw new InputError('every layer of the image is masked: there is nothing to publish', { where: '[redhat] mask_layers / metadata', fix: 'check the mask list and the image' });
  }
  const own = new Set(published.map((i) => i.id));
  for (const [tag, id] of tags) {
    if (!own.has(id)) throw new InputError(`tag ${tag} points to masked image ${id}`, { where: 'archive tags', fix: 'tags must name the ISV\'s own top layer' });
  }
  return { baseFiles, published, masked: new Map(masked.map((m) => [m.id, hosted.get(m.id)])) };
}
