import type { Readable } from 'node:stream';

/**
 * The one image model every archive reader produces and every store and the Crane
 * writer consume. It is a *repository* in Docker v1 terms: a set of v1 images (each one
 * layer plus its v1 JSON, linked by `parent`) and the tags that point into it. Readers
 * for formats without v1 ids (OCI, docker 25+) derive them, so everything downstream can
 * address layers by v1 id.
 */

/** A byte range that can be read any number of times, whole or in parts. */
export interface Blob {
  readonly size: number;
  /** Where the bytes come from, for messages ("app.tar entry \"web/<id>/layer\""). */
  readonly where?: string;
  /**
   * The file the bytes lie in and their offset (in its uncompressed tar, for a gzip
   * archive): what a digest cache keys on, trusting the file's identity as git does.
   */
  readonly source?: { readonly file: string; readonly offset: number };
  /** Stream bytes [start, end) of the blob; defaults to the whole blob. */
  open(start?: number, end?: number): Readable;
}

/** A `sha256:<64 hex>` string. */
export type Digest = `sha256:${string}`;

/** What one reading pass over a layer yields. */
export interface LayerDigests {
  /** Hex sha256 of the layer's bytes as the archive holds them. */
  readonly sha256: string;
  /** sha256 of the gunzipped bytes, for a gzip layer whose archive gives no diff_id. */
  readonly diffId: Digest | undefined;
  /** Hex sha256 of each part as the store sends the layer (the whole layer when it goes in one piece). */
  readonly parts: readonly string[];
}

export interface V1Image {
  /** 64 lowercase hex. */
  readonly id: string;
  readonly parent: string | undefined;
  /** The v1 image JSON exactly as it will be published (names `id` and `parent`). */
  readonly json: Buffer;
  /** This id first, base last; agrees with the `parent` chain. */
  readonly ancestry: readonly string[];
  /** The layer's filesystem tar, possibly gzip-compressed, exactly as it will be published. */
  readonly layer: Blob;
  /** Digest of `layer`'s bytes when the archive declares it (OCI and docker-archive blobs); verified on upload. */
  readonly layerDigest: Digest | undefined;
  /** Digest of the uncompressed layer tar, when the image config lists it (rootfs.diff_ids). */
  readonly diffId: Digest | undefined;
  /** Media type of `layer` when the archive declares it. */
  readonly mediaType: string | undefined;
  /**
   * The image config (Docker/OCI) whose top layer this image is, when the archive has one
   * (OCI, docker-archive with manifest.json); the Docker v2 manifest of a tag points to it.
   */
  readonly config?: ImageConfig;
}

/** Config bytes exactly as the archive holds them, and their digest (verified when the archive declares one). */
export interface ImageConfig {
  readonly bytes: Buffer;
  readonly digest: Digest;
}

export type ArchiveFormat = 'pulp' | 'docker-archive' | 'oci-archive';

export interface ImageRepository {
  readonly format: ArchiveFormat;
  /** The repository name the archive itself gives, if any (Pulp repo-registry-id, RepoTags, OCI ref). */
  readonly archiveName: string | undefined;
  /** Every v1 image, parents before children, ids unique. */
  readonly images: readonly V1Image[];
  /** tag -> v1 id of the top image; every value is an id in `images`. */
  readonly tags: ReadonlyMap<string, string>;
}

export const isHex64 = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);
