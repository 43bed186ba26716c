import pLimit from 'p-limit';
import type { DownloadTimeouts } from '../config/config.ts';
import { parseRedirect } from '../crane/parse.ts';
import { isSchema2Ref } from '../crane/redirect.ts';
import { ConfigError, OperationError } from '../errors.ts';
import { fetchText } from '../fetch/download.ts';
import { isDigest, sha256Hex, toDigest } from '../image/digest.ts';
import type { HostedBlob } from '../image/hosted.ts';
import { DOCKER_LAYER, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../image/media-types.ts';
import type { Digest } from '../image/model.ts';
import type { Logger } from '../log.ts';
import { scrub } from '../log.ts';
import type { MetadataFile } from './base-metadata.ts';

/**
 * How many documents (manifest lists, manifests, configs) one push fetches from the base
 * party's v2 layouts, across all its files. Pulp lists every tag and every digest, so a
 * base repository of a few dozen images stays well under it; a file listing more is
 * refused rather than fetched for minutes. Raise it here if real files need more.
 */
export const MAX_BASE_FETCHES = 200;
/** Distribution's own limit for a manifest; configs of real images are far smaller. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
/** What all fetched documents may add up to, so a hostile host costs a bounded download. */
const MAX_TOTAL_BYTES = 32 * 1024 * 1024;
const CONCURRENCY = 4;

const OCI_LAYER = { tar: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip' } as const;
/** Layer media types a Docker foreign-layer descriptor can name (the others are not indexed: their layers stay unmasked). */
const COMPRESSION: Readonly<Record<string, HostedBlob['compression']>> = {
  [DOCKER_LAYER.tar]: 'tar', [DOCKER_LAYER.gzip]: 'gzip', [OCI_LAYER.tar]: 'tar', [OCI_LAYER.gzip]: 'gzip',
};
const IMAGE_MANIFESTS = new Set([DOCKER_MANIFEST, OCI_MANIFEST]);
const LISTS = new Set([DOCKER_MANIFEST_LIST, OCI_INDEX]);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Descriptor {
  readonly mediaType: string | undefined;
  readonly digest: Digest;
  readonly size: number;
  readonly urls: boolean;
}

/** The files and the fetches of one push: every fetch is counted and bounded. */
class BaseFetcher {
  #fetches = 0;
  #bytes = 0;
  readonly #limit = pLimit(CONCURRENCY);
  readonly #options: FetchOptions;

  constructor(options: FetchOptions) {
    this.#options = options;
  }

  /** The document at `url`; one fetched by digest must be exactly that digest's bytes. */
  fetch(file: MetadataFile, url: string, digest: Digest | undefined, what: string): Promise<Json> {
    return this.#limit(async () => {
      const refuse = refuser(file);
      if (++this.#fetches > MAX_BASE_FETCHES) {
        refuse(`the base party's v2 metadata needs more than ${MAX_BASE_FETCHES} manifests and configs fetched (the limit MAX_BASE_FETCHES)`,
          'list only the base images\' tags and digests in schema2_data, or name the base layers\' digests in [redhat] mask_layers instead');
      }
      let text: string;
      try {
        text = await fetchText(url, { maxBytes: MAX_DOCUMENT_BYTES, signal: this.#options.signal, timeouts: this.#options.timeouts, logger: this.#options.logger, what: `${what} of base-image metadata ${file.origin}:` });
      } catch (error) {
        // Without what the base party hosts, raas cannot tell which layers to keep back: the
        // push stops. The download's own advice is about archives, not base parties.
        if (error instanceof OperationError) {
          throw new OperationError(error.message, { fix: 'check that the base party serves its Pulp v2 layout at the file\'s url, or remove the file from [redhat] metadata', cause: error });
        }
        throw error;
      }
      const bytes = Buffer.from(text, 'utf8');
      this.#bytes += bytes.length;
      if (this.#bytes > MAX_TOTAL_BYTES) refuse(`the base party's v2 metadata adds up to more than ${MAX_TOTAL_BYTES} bytes of manifests and configs`, 'check the base party\'s url and files');
      const shown = scrub(url);
      if (digest !== undefined && toDigest(sha256Hex(bytes)) !== digest) {
        refuse(`${shown} is not ${digest}: it was fetched by that digest, but its bytes hash to ${toDigest(sha256Hex(bytes))}`, 'the base party serves something other than its metadata names; remove the file from [redhat] metadata until it is fixed');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        return refuse(`${shown} is not JSON: ${(error as Error).message}`);
      }
      if (!isObject(parsed)) refuse(`${shown} is not a JSON object`);
      return parsed as Json;
    });
  }
}

interface FetchOptions {
  readonly signal?: AbortSignal;
  readonly timeouts?: DownloadTimeouts;
  readonly logger?: Logger;
}

const refuser = (file: MetadataFile) => (message: string, fix = 'the base party\'s v2 layout does not match its metadata; correct it or remove the file from [redhat] metadata'): never => {
  throw new ConfigError(message, { where: `base-image metadata ${file.origin} ([redhat] metadata)`, fix });
};

function descriptor(value: unknown, where: string, refuse: (m: string) => never): Descriptor {
  if (!isObject(value) || typeof value.digest !== 'string' || !isDigest(value.digest) || !Number.isSafeInteger(value.size) || (value.size as number) < 0) {
    return refuse(`${where} is not a descriptor with a sha256 digest and a size`);
  }
  return { mediaType: typeof value.mediaType === 'string' ? value.mediaType : undefined, digest: value.digest, size: value.size as number, urls: Array.isArray(value.urls) && value.urls.length > 0 };
}

/** The child image manifests of a manifest list (Pulp keeps them at manifests/2/<digest>). */
function children(list: Json, shown: string, refuse: (m: string) => never): Digest[] {
  if ((list.mediaType !== undefined && !LISTS.has(list.mediaType as string)) || !Array.isArray(list.manifests)) refuse(`${shown} is not a manifest list`);
  return (list.manifests as unknown[])
    .map((m, i) => descriptor(m, `${shown} manifests[${i}]`, refuse))
    .filter((d) => d.mediaType !== undefined && IMAGE_MANIFESTS.has(d.mediaType))
    .map((d) => d.digest);
}

function imageManifest(manifest: Json, shown: string, refuse: (m: string) => never): { config: Digest; layers: Descriptor[] } {
  if ((manifest.mediaType !== undefined && !IMAGE_MANIFESTS.has(manifest.mediaType as string)) || manifest.schemaVersion !== 2 || !Array.isArray(manifest.layers)) {
    refuse(`${shown} is not a schema 2 image manifest`);
  }
  const config = descriptor(manifest.config, `${shown} config`, refuse).digest;
  return { config, layers: (manifest.layers as unknown[]).map((l, i) => descriptor(l, `${shown} layers[${i}]`, refuse)) };
}

function diffIds(config: Json, shown: string, count: number, refuse: (m: string) => never): Digest[] {
  const ids: unknown = isObject(config.rootfs) ? config.rootfs.diff_ids : undefined;
  if (!Array.isArray(ids) || !ids.every((d): d is Digest => typeof d === 'string' && isDigest(d))) return refuse(`${shown} has no rootfs.diff_ids of sha256 digests`);
  if (ids.length !== count) refuse(`${shown} lists ${ids.length} diff_ids for a manifest of ${count} layers`);
  return ids;
}

/** The refs a version 3 or 4 file lists, as the Pulp v2 paths Crane redirects them to. */
function paths(file: MetadataFile): { url: string; manifests: string[]; lists: string[] } | undefined {
  const parsed = parseRedirect(file.text);
  if (parsed.kind !== 'redirect' || parsed.loaded === undefined) return undefined;
  const redirect = parsed.loaded;
  if (redirect.version !== 3 && redirect.version !== 4) return undefined;
  if (!/^https?:\/\/.*\/$/.test(redirect.url) || parsed.problems.some((p) => p.key === 'url' && p.severity !== 'warning')) return undefined;
  const refs = (list: readonly unknown[]) => list.filter((r): r is string => typeof r === 'string' && isSchema2Ref(r));
  const manifests = refs(redirect.schema2Data);
  if (redirect.version === 3) return { url: redirect.url, manifests, lists: [] };
  const amd64 = Object.values(redirect.manifestListAmd64Tags).flatMap((v) => (Array.isArray(v) && v[1] === 2 && typeof v[0] === 'string' && isDigest(v[0]) ? [v[0]] : []));
  return { url: redirect.url, manifests: [...new Set([...manifests, ...amd64])], lists: refs(redirect.manifestListData) };
}

async function hostedIn(file: MetadataFile, fetcher: BaseFetcher): Promise<HostedBlob[]> {
  const listed = paths(file);
  if (!listed) return [];
  const { url } = listed;
  const refuse = refuser(file);
  const byDigest = (ref: string) => (isDigest(ref) ? ref : undefined);
  const fromLists = await Promise.all(listed.lists.map(async (ref) => {
    const shown = scrub(`${url}manifests/list/${ref}`);
    return children(await fetcher.fetch(file, `${url}manifests/list/${ref}`, byDigest(ref), 'manifest list'), shown, refuse);
  }));
  const refs = [...new Set([...listed.manifests, ...fromLists.flat()])];
  const manifests = await Promise.all(refs.map(async (ref) => {
    const target = `${url}manifests/2/${ref}`;
    return imageManifest(await fetcher.fetch(file, target, byDigest(ref), 'manifest'), scrub(target), refuse);
  }));
  // Tags and digests name the same manifests, and images share configs: each config is fetched once.
  const configs = new Map<Digest, Promise<Json>>();
  const blobs: HostedBlob[] = [];
  await Promise.all(manifests.map(async ({ config, layers }) => {
    const target = `${url}blobs/${config}`;
    if (!configs.has(config)) configs.set(config, fetcher.fetch(file, target, config, 'image config'));
    const ids = diffIds(await configs.get(config)!, scrub(target), layers.length, refuse);
    layers.forEach((layer, i) => {
      const compression = layer.mediaType === undefined ? undefined : COMPRESSION[layer.mediaType];
      // A layer the host itself names as foreign is not in its blobs/; one of another type cannot be named by a Docker descriptor.
      if (compression === undefined || layer.urls) return;
      blobs.push({ url: `${url}blobs/${layer.digest}`, digest: layer.digest, size: layer.size, diffId: ids[i]!, compression });
    });
  }));
  return blobs;
}

/**
 * The layer blobs the base party's v2 metadata (Crane redirect files of version 3 and 4)
 * says it hosts, learnt from its Pulp v2 layout: every manifest list, manifest and config
 * the files name, fetched from the file's `url` (bounded in number, size and time; one
 * fetched by digest must hash to it). Version 2 files name no manifests (schema 1 only),
 * so they host nothing raas can match. A blob two documents describe differently is refused.
 */
export async function hostedBlobs(files: readonly MetadataFile[], options: FetchOptions = {}): Promise<HostedBlob[]> {
  const fetcher = new BaseFetcher(options);
  const found = new Map<Digest, { blob: HostedBlob; file: MetadataFile }>();
  for (const file of files) {
    for (const blob of await hostedIn(file, fetcher)) {
      const seen = found.get(blob.digest);
      if (!seen) found.set(blob.digest, { blob, file });
      else if (seen.blob.diffId !== blob.diffId || seen.blob.size !== blob.size || seen.blob.compression !== blob.compression) {
        refuser(file)(`layer ${blob.digest} is described as ${blob.size} bytes with diff_id ${blob.diffId} here, but as ${seen.blob.size} bytes with diff_id ${seen.blob.diffId} in ${seen.file.origin}`);
      }
    }
  }
  return [...found.values()].map((f) => f.blob);
}
