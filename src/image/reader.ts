import type { Logger } from '../log.ts';
import type { ArchiveLimits } from './limits.ts';
import type { ImageRepository } from './model.ts';
import type { TarIndex } from './tar-index.ts';

/**
 * What every format reader (pulp.ts, docker-archive.ts, oci.ts) is given and returns. It
 * lives apart from read.ts, which picks the reader, so the readers do not import their caller.
 */
export interface ReaderContext {
  readonly limits: ArchiveLimits;
  readonly logger: Logger;
}

export type FormatReader = (index: TarIndex, context: ReaderContext) => Promise<ImageRepository>;
