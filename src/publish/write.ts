import pLimit from 'p-limit';
import type { LayerDigester } from '../image/layer-digests.ts';
import type { LayoutObject } from '../layout/layout.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../storage/store.ts';

/** How writes report progress; the CLI draws bars on a TTY and plain lines elsewhere. */
export interface WriteProgress {
  start(object: LayoutObject): void;
  advance(object: LayoutObject, bytes: number): void;
  /** The write ended: `ok` when the object is stored, false when it failed or was stopped. */
  finish(object: LayoutObject, ok: boolean): void;
  /** Every write has ended (bars must be gone before other output follows). */
  end?(): void;
}

export interface WrittenObject {
  readonly key: string;
  readonly size: number;
  /** The key it was copied from server-side; undefined when it was uploaded. */
  readonly copiedFrom: string | undefined;
}

/**
 * The one writer of every layout's objects. Stages are written in order, each wholly
 * before the next starts, so no layout's reader ever meets a reference to an object not
 * yet stored; within a stage at most `jobs` objects at a time, layers first and largest
 * first, so the long transfers start early and small JSON fills the gaps. The first failure
 * stops new writes; those running finish or are aborted, and the store guarantees no
 * partial object is visible at any key.
 */
export async function writeStaged(options: {
  readonly store: Store;
  readonly objects: readonly LayoutObject[];
  readonly jobs: number;
  readonly logger: Logger;
  readonly progress?: WriteProgress;
  readonly signal: AbortSignal;
  /** The push's one reading pass per layer: layers are sent with its hashes, not read an extra time first. */
  readonly digests: LayerDigester;
}): Promise<WrittenObject[]> {
  const { store, logger, progress } = options;
  const failed = new AbortController();
  const signal = AbortSignal.any([options.signal, failed.signal]);
  const limit = pLimit(Math.max(1, options.jobs));

  /** Copy when the source still holds these bytes (its recorded sha256); a copy that cannot be made falls back to an upload. */
  const copy = async (object: LayoutObject, from: string, sha256: string | undefined): Promise<boolean> => {
    try {
      const source = await store.stat(from);
      if (sha256 === undefined || source?.sha256 !== sha256) {
        logger.debug({ key: object.key, from }, `${from} no longer holds the bytes of ${object.key}; uploading it instead`);
        return false;
      }
      await store.copy(from, object.key);
    } catch (error) {
      if (signal.aborted) throw error;
      // S3 copies at most 5 GiB in one request, and the source may have gone since it was stat'ed.
      logger.debug({ key: object.key, from, err: error }, `cannot copy ${from}; uploading ${object.key} instead`);
      return false;
    }
    logger.info(`Copied ${object.key} from ${from}`);
    return true;
  };

  const writeOne = async (object: LayoutObject): Promise<WrittenObject> => {
    signal.throwIfAborted();
    const pass = object.layer && !Buffer.isBuffer(object.body) ? await options.digests(object.layer) : undefined;
    // The plan's sha256 (a declared digest) is what the bytes must have; the pass's part hashes
    // go along only when its read agrees, else put reads again and refuses.
    const sha256 = object.sha256 ?? pass?.sha256;
    if (object.copyFrom !== undefined && (await copy(object, object.copyFrom, sha256))) return { key: object.key, size: object.size, copiedFrom: object.copyFrom };
    const parts = pass && pass.sha256 === sha256 ? pass.parts : undefined;
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
      return { key: object.key, size: result.size, copiedFrom: undefined };
    } finally {
      progress?.finish(object, ok);
    }
  };
  const guarded = (object: LayoutObject) => limit(async () => {
    try {
      return await writeOne(object);
    } catch (error) {
      failed.abort(error);
      throw error;
    }
  });

  const written: WrittenObject[] = [];
  try {
    for (const stage of stagesOf(options.objects)) {
      const settled = await Promise.allSettled(stage.map(guarded));
      const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      // Report the failure that stopped the others, not an AbortError it triggered.
      if (rejected.length > 0) throw (rejected.find((s) => s.reason === failed.signal.reason) ?? rejected[0]!).reason;
      written.push(...settled.map((s) => (s as PromiseFulfilledResult<WrittenObject>).value));
    }
  } finally {
    progress?.end?.();
  }
  return written;
}

/** The objects by stage, lowest first; within a stage layers first, largest first. */
function stagesOf(objects: readonly LayoutObject[]): LayoutObject[][] {
  const stages = [...new Set(objects.map((o) => o.stage))].sort((a, b) => a - b);
  return stages.map((stage) =>
    objects.filter((o) => o.stage === stage).sort((a, b) => Number(b.layer !== undefined) - Number(a.layer !== undefined) || b.size - a.size));
}
