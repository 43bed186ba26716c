import pLimit from 'p-limit';
import type { LayerDigester } from '../image/layer-digests.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../storage/store.ts';
import type { PlannedObject } from './plan.ts';

/** How uploads report progress; the CLI draws bars on a TTY and plain lines elsewhere. */
export interface UploadProgress {
  start(object: PlannedObject): void;
  advance(object: PlannedObject, bytes: number): void;
  /** The upload ended: `ok` when the object is stored, false when it failed or was stopped. */
  finish(object: PlannedObject, ok: boolean): void;
  /** Every upload has ended (bars must be gone before other output follows). */
  end?(): void;
}

export interface UploadedObject {
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Write every planned object, a bounded number at a time: copied server-side when the plan
 * found its bytes under another app, else uploaded. Layers go first and largest
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
  /** The push's one reading pass per layer: layers are sent with its hashes, not read an extra time first. */
  readonly digests: LayerDigester;
}): Promise<UploadedObject[]> {
  const { store, logger, progress } = options;
  const failed = new AbortController();
  const signal = AbortSignal.any([options.signal, failed.signal]);
  const limit = pLimit(options.jobs);
  const ordered = [...options.objects].sort((a, b) => Number(b.kind === 'layer') - Number(a.kind === 'layer') || b.size - a.size);
  const copy = async (object: PlannedObject, from: string): Promise<UploadedObject | undefined> => {
    try {
      await store.copy(from, object.key);
    } catch (error) {
      if (signal.aborted) throw error;
      // The source went away since it was checked, or the store cannot copy it (S3 copies at most 5 GiB at once).
      logger.debug({ key: object.key, from, err: error }, `cannot copy ${from}; uploading ${object.key} instead`);
      return undefined;
    }
    logger.info(`Copied ${object.key} from ${from}`);
    // The plan checked the source's recorded sha256 against the layer's.
    return { key: object.key, size: object.size, sha256: object.sha256! };
  };
  const run = (object: PlannedObject) =>
    limit(async () => {
      signal.throwIfAborted();
      const copied = object.copyFrom === undefined ? undefined : await copy(object, object.copyFrom);
      if (copied) return copied;
      const layer = Buffer.isBuffer(object.body) ? undefined : await options.digests(object.image);
      // The plan's sha256 (a declared digest, or the copy source's) is what the bytes must
      // have; the pass's part hashes go along only when its read agrees, else put reads again and refuses.
      const sha256 = object.sha256 ?? layer?.sha256;
      const parts = layer && layer.sha256 === sha256 ? layer.parts : undefined;
      progress?.start(object);
      let ok = false;
      try {
        const result = await store.put(object.key, object.body, {
          contentType: object.contentType,
          ...(sha256 ? { sha256 } : {}),
          ...(parts ? { parts } : {}),
          onProgress: (bytes) => progress?.advance(object, bytes),
          signal,
        });
        logger.debug({ key: object.key, size: result.size, sha256: result.sha256 }, `uploaded ${object.key}`);
        ok = true;
        return { key: object.key, size: result.size, sha256: result.sha256 };
      } catch (error) {
        failed.abort(error);
        throw error;
      } finally {
        progress?.finish(object, ok);
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
