import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { detectFormat } from './detect.ts';
import { readDockerArchive } from './docker-archive.ts';
import { resolveLimits, type ArchiveLimits } from './limits.ts';
import type { ArchiveFormat, ImageRepository } from './model.ts';
import { readOci } from './oci.ts';
import { readPulp } from './pulp.ts';
import type { FormatReader } from './reader.ts';
import { TarIndex } from './tar-index.ts';

export interface ReadOptions {
  /**
   * Scratch space owned by the caller. A gzip-compressed archive is decompressed here and
   * the layers' Blobs read from that copy, so it must outlive their use; the caller
   * removes it. Nothing is written anywhere else.
   */
  readonly workDir: string;
  readonly limits?: Partial<ArchiveLimits>;
  readonly logger?: Logger;
  /** Stops decompression and indexing at once (SIGINT, SIGTERM). */
  readonly signal?: AbortSignal;
}

const READERS: Readonly<Record<ArchiveFormat, FormatReader>> = {
  pulp: readPulp,
  'docker-archive': readDockerArchive,
  'oci-archive': readOci,
};

/**
 * Read and validate an image archive (Pulp export, docker-archive, OCI archive; plain or
 * gzip-compressed). Everything but layer digests is checked here, before any upload;
 * hash layers with `verifyLayers`.
 */
export async function readArchive(path: string, options: ReadOptions): Promise<ImageRepository> {
  const limits = resolveLimits(options.limits);
  const logger = options.logger ?? silentLogger();
  const index = await TarIndex.open(path, options.workDir, limits, options.signal);
  try {
    const format = detectFormat(index);
    logger.debug({ archive: path, format, entries: index.paths().length }, `reading ${path} as ${format}`);
    const repository = await READERS[format](index, { limits, logger });
    if (repository.tags.size === 0) logger.warn(`${path}: the archive tags none of its ${repository.images.length} images`);
    logger.debug({ archive: path, images: repository.images.length, tags: [...repository.tags.keys()] }, `read ${repository.images.length} images`);
    return repository;
  } catch (err) {
    await index.dispose();
    throw err;
  }
}
