/**
 * The media types raas reads and writes, in one place (Docker's image manifest v2 schema 2
 * and the OCI image spec). Layers and configs keep the type the archive gives them where
 * the archive gives one.
 */
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** An OCI image manifest or index (artifacts, signatures and SBOMs are OCI manifests too). */
export const isOciDocument = (mediaType: string | undefined): boolean => mediaType === OCI_MANIFEST || mediaType === OCI_INDEX;

export const DOCKER_LAYER = {
  tar: 'application/vnd.docker.image.rootfs.diff.tar',
  gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;
/**
 * Layers another party hosts (masked layers): clients fetch them from the descriptor's
 * `urls`, never from this repository, as Docker's foreign layers.
 */
export const DOCKER_FOREIGN_LAYER = {
  tar: 'application/vnd.docker.image.rootfs.foreign.diff.tar',
  gzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;
/** OCI's layer types; zstd has no Docker media type, so a zstd layer is named only by OCI's. */
export const OCI_LAYER = {
  tar: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;
/** OCI's deprecated types for layers others host; archives may still declare them. Read, never written. */
export const OCI_NONDISTRIBUTABLE_LAYER = {
  tar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  gzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;
/** containerd's (and containers/image's) name for a zstd layer in Docker's vocabulary; Docker defines none. Read, never written. */
export const DOCKER_ZSTD_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.zstd';

/** What Crane says the store must serve blobs as; Distribution serves them so too. */
export const BLOB_CONTENT_TYPE = 'application/octet-stream';
