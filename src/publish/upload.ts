import pLimit from 'p-limit';
import type { Logger } from '../log.ts';
import type { Store } from '../storage/store.ts';
import type { PlannedObject } from './plan.ts';

/** How uploads report progress; the CLI draws bars on a TTY and plain lines elsewhere. */
export interface UploadProgress {
  start(object: PlannedObject): void;
  advance(object: PlannedObject, bytes: number): void;
  finish(object: PlannedObject): void;
  /** Every upload has ended (bars must be gone before other output follows). */
  end?(): void;
}

export interface UploadedObject {
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Upload every planned object, a bounded number at a time. Layers go first and largest
 * first, so the long transfers start early and the small JSON objects fill the gaps. The
 * first failure stops new uploads; those already running finish or are aborted by the
 * signal, and no partial object is left visible (the store guarantees that per object).
 */
export async function uploadAll(options: {
  readonly store: Store;
  readonly objects: readonly PlannedObject[];
  readonly jobs: number;
  readonly logger: Logger;
  readonly progress?: UploadProgress;
  readonly signal: AbortSignal;
}): Promise<UploadedObject[]> {
  const { store, logger, progress } = options;
  const failed = new AbortController();
  const signal = AbortSignal.any([options.signal, failed.signal]);
  const limit = pLimit(options.jobs);
  const ordered = [...options.objects].sort((a, b) => Number(b.kind === 'layer') - Number(a.kind === 'layer') || b.size - a.size);
  const run = (object: PlannedObject) =>
    limit(async () => {
      signal.throwIfAborted();
      progress?.start(object);
      try {
        const result = await store.put(object.key, object.body, {
          contentType: object.contentType,
          ...(object.sha256 ? { sha256: object.sha256 } : {}),
          onProgress: (bytes) => progress?.advance(object, bytes),
          signal,
        });
        logger.debug({ key: object.key, size: result.size, sha256: result.sha256 }, `uploaded ${object.key}`);
        return { key: object.key, size: result.size, sha256: result.sha256 };
      } catch (error) {
        failed.abort(error);
        throw error;
      } finally {
        progress?.finish(object);
      }
    });
  const settled = await Promise.allSettled(ordered.map(run));
  progress?.end?.();
  // Report the failure that caused the others to stop, not an AbortError it triggered.
  const firstFailure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && s.reason === failed.signal.reason);
  const anyFailure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (firstFailure ?? anyFailure) throw (firstFailure ?? anyFailure)!.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<UploadedObject>).value);
}
