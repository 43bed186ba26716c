import pLimit from 'p-limit';
import type { ListedObject, Store } from '../storage/store.ts';
import type { LayoutObject } from './layout.ts';

/**
 * Which objects the store already holds with these bytes: the size a listing shows (or,
 * for keys outside the listed prefixes, a HEAD) and the sha256 raas recorded when it wrote
 * the object. An object of another writer (no recorded sha256) counts only when
 * `trustUnrecorded` says its key alone proves its content, as a content-addressed blob's
 * does once its size agrees.
 */
export async function splitPresent<T extends LayoutObject>(options: {
  readonly store: Store;
  readonly listing: ReadonlyMap<string, ListedObject>;
  readonly objects: readonly T[];
  readonly concurrency: number;
  /** Keys the listing does not cover, so their absence from it says nothing. */
  readonly unlisted?: (key: string) => boolean;
  readonly trustUnrecorded?: (object: T) => boolean;
}): Promise<{ write: T[]; present: T[] }> {
  const { store, listing } = options;
  const limit = pLimit(Math.max(1, options.concurrency));
  const isPresent = async (object: T): Promise<boolean> => {
    const unlisted = options.unlisted?.(object.key) ?? false;
    if (!unlisted) {
      const listed = listing.get(object.key);
      if (!listed || listed.size !== object.size) return false;
    }
    const info = await store.stat(object.key);
    if (!info || info.size !== object.size) return false;
    if (info.sha256 === undefined) return options.trustUnrecorded?.(object) ?? false;
    return info.sha256 === object.sha256;
  };
  const decided = await Promise.all(options.objects.map((object) => limit(async () => ({ object, present: await isPresent(object) }))));
  return { write: decided.filter((d) => !d.present).map((d) => d.object), present: decided.filter((d) => d.present).map((d) => d.object) };
}
