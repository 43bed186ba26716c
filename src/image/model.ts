import type { Readable } from 'node:stream';

/**
 * The one image model every archive reader produces and every layout consumes, in two
 * views of the same bytes:
 * - `manifests`: what the archive itself holds, as go-containerregistry's v1.Image and
 *   v1.ImageIndex are: per tag an index or a manifest, with its config and layer blobs by
 *   digest, media types and bytes exactly as archived. The v2 layouts publish these byte
 *   for byte, so OCI stays OCI and every digest is the archive's. Formats without
 *   manifests (Pulp exports, `docker save` before 25) have none; their v2 manifests are
 *   built from the v1 view (image/schema2.ts).
 * - `images` and `tags`: a repository in Docker v1 terms (v1 images linked by `parent`),
 *   which crane-v1 publishes and masks by id. Readers for formats without v1 ids derive
 *   them, from the linux/amd64 image of an index only.
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
  /** sha256 of the decompressed bytes of a gzip or zstd layer: its diff_id, checked against the config's. */
  readonly diffId: Digest | undefined;
  /** Hex sha256 of each part as the store sends the layer (the whole layer when it goes in one piece). */
  readonly parts: readonly string[];
}

/**
 * A layer's bytes and what the archive declares about them: what reading, verifying and
 * writing a layer needs, whether or not it belongs to the v1 view.
 */
export interface LayerSource {
  /** The v1 id; for a layer outside the v1 view, the hex of its digest. 64 lowercase hex. */
  readonly id: string;
  /** The layer's filesystem tar, possibly compressed, exactly as it will be published. */
  readonly layer: Blob;
  /** Digest of `layer`'s bytes when the archive declares it (OCI and docker-archive blobs); verified on upload. */
  readonly layerDigest: Digest | undefined;
  /** Digest of the uncompressed layer tar, when the image config lists it (rootfs.diff_ids). */
  readonly diffId: Digest | undefined;
  /** Media type of `layer` when the archive declares it. */
  readonly mediaType: string | undefined;
}

export interface V1Image extends LayerSource {
  /** 64 lowercase hex. */
  readonly id: string;
  readonly parent: string | undefined;
  /** The v1 image JSON exactly as it will be published (names `id` and `parent`). */
  readonly json: Buffer;
  /** This id first, base last; agrees with the `parent` chain. */
  readonly ancestry: readonly string[];
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

/** What an index says a manifest is for. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** An image manifest exactly as the archive holds it, with what it names. */
export interface ArchivedImage {
  readonly kind: 'image';
  readonly mediaType: string;
  readonly digest: Digest;
  readonly bytes: Buffer;
  /** From the index that lists it, if any. */
  readonly platform: Platform | undefined;
  readonly config: ImageConfig & { readonly mediaType: string };
  /** Base first, as the manifest lists them; `layerDigest` and `mediaType` are the descriptor's. */
  readonly layers: readonly LayerSource[];
  /** The manifest this one is attached to (OCI 1.1 `subject`: signatures, SBOMs). */
  readonly subject: Digest | undefined;
}

/** An image index (or Docker manifest list) exactly as the archive holds it, with the manifests it lists. */
export interface ArchivedIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly digest: Digest;
  readonly bytes: Buffer;
  readonly manifests: readonly ArchivedImage[];
}

export type ArchivedManifest = ArchivedImage | ArchivedIndex;

/** Every image manifest of `m`: itself, or the ones its index lists. */
export const imagesOf = (m: ArchivedManifest): readonly ArchivedImage[] => (m.kind === 'image' ? [m] : m.manifests);

export interface ImageRepository {
  readonly format: ArchiveFormat;
  /** The repository name the archive itself gives, if any (Pulp repo-registry-id, RepoTags, OCI ref). */
  readonly archiveName: string | undefined;
  /** Every v1 image, parents before children, ids unique. */
  readonly images: readonly V1Image[];
  /** tag -> v1 id of the top image; every value is an id in `images`. */
  readonly tags: ReadonlyMap<string, string>;
  /**
   * tag -> the archive's own manifest or index (OCI archives); undefined for formats that
   * hold none. A tag may be here and not in `tags` (an index without linux/amd64).
   */
  readonly manifests?: ReadonlyMap<string, ArchivedManifest>;
  /** Manifests the archive attaches to its images by `subject` that no tag names. */
  readonly referrers?: readonly ArchivedImage[];
}

export const isHex64 = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);
