import { isDigest } from './digest.ts';
import type { Digest } from './model.ts';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, isOciDocument, OCI_INDEX, OCI_MANIFEST } from './media-types.ts';

/**
 * Reading manifests back from storage, where anything may have been put: the descriptors a
 * Docker schema 2 / OCI image manifest or a manifest list / OCI index names, or undefined
 * when the bytes are not one. Status checks of every v2 layout share these.
 */
export interface StoredDescriptor {
  readonly digest: Digest;
  /** As stored: callers check it is the number they expect. */
  readonly size: unknown;
  readonly urls?: unknown;
}

function parse(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isDescriptor = (d: unknown): d is StoredDescriptor =>
  typeof d === 'object' && d !== null && typeof (d as StoredDescriptor).digest === 'string' && isDigest((d as StoredDescriptor).digest);

/** The config descriptor, then the layers, of a schema 2 or OCI image manifest. */
export function imageManifestDescriptors(bytes: Buffer): StoredDescriptor[] | undefined {
  const m = parse(bytes);
  if (!m || m['schemaVersion'] !== 2 || !Array.isArray(m['layers'])) return undefined;
  if (m['mediaType'] !== undefined && m['mediaType'] !== DOCKER_MANIFEST && m['mediaType'] !== OCI_MANIFEST) return undefined;
  const descriptors: unknown[] = [m['config'], ...m['layers']];
  return descriptors.every(isDescriptor) ? descriptors : undefined;
}

/** The manifests a manifest list or OCI index lists. */
export function indexDescriptors(bytes: Buffer): StoredDescriptor[] | undefined {
  const m = parse(bytes);
  if (!m || m['schemaVersion'] !== 2 || !Array.isArray(m['manifests'])) return undefined;
  if (m['mediaType'] !== undefined && m['mediaType'] !== DOCKER_MANIFEST_LIST && m['mediaType'] !== OCI_INDEX) return undefined;
  const manifests: unknown[] = m['manifests'];
  return manifests.every(isDescriptor) ? manifests : undefined;
}

/**
 * Whether stored manifest or index bytes are OCI: Docker's types always carry their
 * `mediaType`, and OCI's may leave it out (the archive readers take such a manifest as OCI).
 */
export function isStoredOci(bytes: Buffer): boolean {
  const m = parse(bytes);
  if (!m || m['schemaVersion'] !== 2) return false;
  const own = m['mediaType'];
  return own === undefined || (typeof own === 'string' && isOciDocument(own));
}
