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

/** What Crane says the store must serve blobs as; Distribution serves them so too. */
export const BLOB_CONTENT_TYPE = 'application/octet-stream';
