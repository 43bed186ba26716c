import type { LayerHost } from '../image/hosted.ts';
import type { LayerDigester } from '../image/layer-digests.ts';
import type { Blob, ImageRepository, LayerSource, V1Image } from '../image/model.ts';
import type { Logger } from '../log.ts';
import type { ListedObject, Store } from '../storage/store.ts';

/**
 * A storage layout: one way of laying an image out in a store so that some front end
 * (Crane's v1 or v2 API, raas serve, a stock Distribution registry) can serve it. Each
 * layout is one folder under src/layout/; push plans every layout the ISV uses, hands the
 * objects to the one staged writer (publish/write.ts) and deploys the front-end files the
 * plans ask for. Status asks the same layouts what a published image must look like.
 */
export interface StorageLayout {
  readonly name: LayoutName;
  /** What serves it: a Crane app (or raas serve) from deployed redirect files, or a registry reading the store itself. */
  readonly servedBy: 'crane' | 'registry';
  /** The store prefixes (under the store's root) the plan needs listed, once, before it plans. */
  prefixes(image: ImageName): readonly string[];
  plan(input: PublishInput): Promise<LayoutPlan>;
}

export type LayoutName = 'crane-v1' | 'crane-v2' | 'distribution';

/** The image's names: the one clients pull, and its flat form (`acme/app` -> `acme-app`), the Crane app's prefix and file names. */
export interface ImageName {
  readonly isv: string;
  readonly image: string;
  readonly flat: string;
}

export interface PublishInput extends ImageName {
  readonly store: Store;
  readonly repo: ImageRepository;
  /** tag -> v1 id of its top image (every tag is published). */
  readonly tags: ReadonlyMap<string, string>;
  /** The images whose layers are stored: the archive's, without the masked ones. */
  readonly published: readonly V1Image[];
  /**
   * Masked images (another party hosts their layers), with where it serves each layer
   * (from its Crane metadata); undefined when only the mask list names it.
   */
  readonly masked: ReadonlyMap<string, LayerHost>;
  /** One listing of the store under every prefix of `prefixes()`. */
  readonly listing: ReadonlyMap<string, ListedObject>;
  /** The push's one reading pass per layer, shared by every layout. */
  readonly digests: LayerDigester;
  /** Requests in flight while planning (HEADs, reads). */
  readonly concurrency: number;
  readonly logger: Logger;
}

/**
 * One object a layout stores. The writer writes stage by stage: nothing of stage n+1 is
 * written before every object of stage n is stored, which is how a layout makes sure a
 * reader never finds a reference (a manifest, a link, a tag) to something not yet there.
 */
export interface LayoutObject {
  readonly key: string;
  readonly body: Blob | Buffer;
  readonly size: number;
  readonly contentType: string;
  /** Hex sha256 the bytes must have, when known before reading them (a declared digest, small bodies). */
  readonly sha256: string | undefined;
  readonly stage: number;
  /** The image whose layer `body` is: the digest pass knows it, progress bars name it. */
  readonly layer?: LayerSource;
  /** A key holding the same bytes (raas-written, recorded sha256), copied server-side instead of uploaded when it still does. */
  readonly copyFrom?: string;
}

/** A Crane redirect file to deploy (data directory file name and text). */
export interface FrontEndFile {
  readonly name: string;
  readonly text: string;
}

export interface LayoutPlan {
  readonly layout: LayoutName;
  readonly write: readonly LayoutObject[];
  readonly present: readonly LayoutObject[];
  /**
   * The Crane redirect file this layout needs deployed, computed from what the app holds at
   * deploy time (so concurrent pushes merge), with the name of its backup copy in the
   * configuration repository; undefined for a layout no Crane serves.
   */
  readonly frontEnd?: {
    readonly name: string;
    readonly backupName: string;
    /** `dataDir`: where the file lies in the app repository, for messages. */
    file(deployed: ReadonlyMap<string, string>, logger: Logger, dataDir: string): FrontEndFile;
  };
  /**
   * What the configuration repository keeps of the push when no front-end file is backed
   * up: its name there, and its text given the copy there now (undefined: none yet).
   */
  readonly record?: {
    readonly name: string;
    /** Throws an InputError when the copy there is another image's; `where` names it for messages. */
    text(previous: string | undefined, where: string): string;
  };
  /** Work after the front end serves the push (a tag list that overlapping pushes may have left short). */
  afterDeploy?(signal: AbortSignal): Promise<void>;
  /** What `raas push --json` says about this layout. */
  readonly report: LayoutReport;
}

export interface LayoutReport {
  /** Where clients fetch the layout's objects from. */
  readonly url: string;
}

/** Below this a copy saves nothing: checking the source and copying cost two requests where an upload costs one. */
export const MIN_COPY_SIZE = 1024 * 1024;

/** Whether registry clients can fetch from a store URL: http(s), not a file:// URL only this machine can read. */
export const clientsCanFetch = (url: string): boolean => /^https?:\/\//i.test(url);
