import type { Store } from '../storage/store.ts';

/** What the checks of one image (status/image.ts and each layout's status) work with. */
export interface ImageContext {
  readonly isv: string;
  /** Undefined when the store cannot be reached: its check says why, once. */
  readonly store: Store | undefined;
  readonly dataDir: string;
  /** The configuration repository's working copy. */
  readonly configDir: string;
  /** The registry's base URL, ending in "/"; undefined when it does not answer. */
  readonly registry: string | undefined;
  /** The registry serves the Docker v2 API (/v2/). */
  readonly registryV2: boolean;
  /** Requests in flight per image. */
  readonly concurrency: number;
  readonly signal: AbortSignal;
}
