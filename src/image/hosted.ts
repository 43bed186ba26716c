import type { Digest } from './model.ts';

/**
 * A layer blob another party (the base party) serves, as its own v2 metadata describes
 * it: a masked layer's foreign descriptor must name exactly these bytes, which may be
 * compressed differently from the ISV's archive (the same diff_id).
 */
export interface HostedBlob {
  /** Where the host serves the blob (`<url>blobs/<digest>` of its Pulp v2 layout). */
  readonly url: string;
  readonly digest: Digest;
  readonly size: number;
  /** sha256 of the uncompressed tar, from the host's image config. */
  readonly diffId: Digest;
  readonly compression: 'tar' | 'gzip';
}

/**
 * Where a masked layer is hosted: a URL only (learnt from a Crane v1 file, serving the
 * archive's own bytes), or the host's blob; undefined when only the mask list names it.
 */
export type LayerHost = string | HostedBlob | undefined;

