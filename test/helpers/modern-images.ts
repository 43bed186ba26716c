import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { execa } from 'execa';
import type { Digest } from '../../src/image/model.ts';
import { imageConfig, ociEntries, ociFiles, randomLayer, writeOciLayout, writeTar, type Layer, type OciImage } from './archives.ts';

/**
 * Modern images for tests: multi-platform indexes, zstd layers and artifacts attached to
 * an image (cosign tags, OCI 1.1 referrers), written as OCI layouts and turned into
 * archives by the real skopeo where skopeo can. Layers are a few KiB so tests stay fast.
 */

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const digestOf = (data: Buffer | string): Digest => `sha256:${sha256(data)}`;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly artifactType?: string;
}

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** How layer blobs are stored. */
export type Compression = 'gzip' | 'zstd' | 'none';
/** OCI media types, or Docker's (schema 2 and manifest lists, as older buildx and docker push wrote). */
export type MediaTypes = 'oci' | 'docker';

const COMPRESS: Record<Compression, (tar: Buffer) => Buffer> = { gzip: gzipSync, zstd: zstdCompressSync, none: (tar) => tar };

const MEDIA_TYPES = {
  oci: {
    index: OCI_INDEX,
    manifest: OCI_MANIFEST,
    config: 'application/vnd.oci.image.config.v1+json',
    layer: { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd', none: 'application/vnd.oci.image.layer.v1.tar' },
  },
  docker: {
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: { gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip', none: 'application/vnd.docker.image.rootfs.diff.tar', zstd: undefined },
  },
} as const;

/** The files of an OCI layout by relative path, and a way to add blobs to it. */
class LayoutFiles {
  readonly files = new Map<string, Buffer>([['oci-layout', json({ imageLayoutVersion: '1.0.0' })]]);

  put(data: Buffer, mediaType: string): Descriptor {
    this.files.set(`blobs/sha256/${sha256(data)}`, data);
    return { mediaType, digest: digestOf(data), size: data.length };
  }

  /** Take the blobs of another layout's files (ociFiles's), leaving its index.json behind. */
  merge(files: ReadonlyMap<string, Buffer>): void {
    for (const [name, data] of files) if (name.startsWith('blobs/')) this.files.set(name, data);
  }

  size(digest: Digest): number {
    const blob = this.files.get(`blobs/${digest.replace(':', '/')}`);
    if (!blob) throw new Error(`no blob ${digest} in the layout being built`);
    return blob.length;
  }

  /** Store one image's layers (compressed as asked), config and manifest; media types of `kind`. */
  image(layers: readonly Layer[], config: Buffer, compression: Compression, kind: MediaTypes, ownMediaType = true): { manifest: Descriptor; config: Digest; layerDigests: Digest[] } {
    const types = MEDIA_TYPES[kind];
    const layerType = types.layer[compression];
    if (!layerType) throw new Error(`${kind} media types have no ${compression} layer type: use OCI media types for ${compression} layers`);
    const configDescriptor = this.put(config, types.config);
    const blobs = layers.map((l) => this.put(COMPRESS[compression](l.tar), layerType));
    const manifest = this.put(json({ schemaVersion: 2, ...(ownMediaType ? { mediaType: types.manifest } : {}), config: configDescriptor, layers: blobs }), types.manifest);
    return { manifest, config: configDescriptor.digest, layerDigests: blobs.map((b) => b.digest) };
  }

  index(manifests: readonly Descriptor[]): void {
    this.files.set('index.json', json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  }
}

/** Write layout files (relative path → bytes) under `dir`. */
export async function writeLayoutFiles(dir: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const [name, data] of files) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), data);
  }
}

/** Run skopeo, saying which command failed and what it printed. */
export async function skopeo(args: readonly string[]): Promise<string> {
  // stdout as printed: `inspect --raw` prints the exact bytes, whose digest tests compare.
  const result = await execa('skopeo', ['--insecure-policy', ...args], { reject: false, all: true, stripFinalNewline: false });
  if (result.exitCode !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${result.exitCode}):\n${result.all}`);
  return result.stdout;
}

// ---------------------------------------------------------------------------- multi-platform

export const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
export const ARM64: Platform = { os: 'linux', architecture: 'arm64' };

export interface MultiPlatformOptions {
  /** Tag of the index (default "latest"). */
  readonly tag?: string;
  /** Give every platform the same base layer (below its own layer), as images built FROM one base do. */
  readonly sharedBase?: boolean;
  /** How layers are stored (default gzip, as registries hold them). */
  readonly compression?: Compression;
  /** OCI media types (default) or Docker's: a manifest list of schema 2 manifests. */
  readonly mediaTypes?: MediaTypes;
  /** Bytes of random data per layer (default 1024). */
  readonly layerBytes?: number;
  /** Default linux/amd64 and linux/arm64. */
  readonly platforms?: readonly Platform[];
  /** Leave `mediaType` out of the platform manifests (OCI makes it optional; the index's descriptors still name it). */
  readonly omitManifestMediaType?: boolean;
}

/** One platform's image inside an index. */
export interface PlatformImage extends OciImage {
  readonly platform: Platform;
  readonly manifestMediaType: string;
  readonly manifestSize: number;
  /** Uncompressed layers (base first) and their diff_ids, as the config lists them. */
  readonly layers: readonly Layer[];
  readonly diffIds: readonly Digest[];
}

export interface MultiPlatformImage {
  readonly tag: string;
  readonly index: Digest;
  /** application/vnd.oci.image.index.v1+json, or Docker's manifest list type. */
  readonly indexMediaType: string;
  readonly indexSize: number;
  /** In the index's order. */
  readonly images: readonly PlatformImage[];
  /** The shared base layer, when `sharedBase`. */
  readonly sharedBase?: Layer;
}

/** The index blob and everything it names, with index.json naming the index by its tag. */
export function multiPlatformFiles(options: MultiPlatformOptions = {}): { files: Map<string, Buffer>; image: MultiPlatformImage; indexDescriptor: Descriptor } {
  const { tag = 'latest', compression = 'gzip', mediaTypes = 'oci', layerBytes = 1024, platforms = [AMD64, ARM64] } = options;
  const layout = new LayoutFiles();
  const base = options.sharedBase ? randomLayer(layerBytes, 'base.bin') : undefined;
  const images = platforms.map((platform): PlatformImage => {
    const layers = [...(base ? [base] : []), randomLayer(layerBytes, `${platform.architecture}.bin`)];
    const config = imageConfig(layers, { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}) });
    const { manifest, ...image } = layout.image(layers, config, compression, mediaTypes, !options.omitManifestMediaType);
    return { ...image, manifest: manifest.digest, manifestSize: manifest.size, manifestMediaType: manifest.mediaType, platform, layers, diffIds: layers.map((l) => l.diffId) };
  });
  const indexMediaType = MEDIA_TYPES[mediaTypes].index;
  const index = layout.put(
    json({
      schemaVersion: 2,
      mediaType: indexMediaType,
      manifests: images.map((i) => ({ mediaType: i.manifestMediaType, digest: i.manifest, size: i.manifestSize, platform: i.platform })),
    }),
    indexMediaType,
  );
  const indexDescriptor = { ...index, annotations: { [REF_NAME]: tag } };
  layout.index([indexDescriptor]);
  return { files: layout.files, image: { tag, index: index.digest, indexMediaType, indexSize: index.size, images, sharedBase: base }, indexDescriptor };
}

/** Write an OCI layout directory holding a multi-platform index tagged `tag` (`oci:DIR:TAG`). */
export async function writeMultiPlatformLayout(dir: string, options: MultiPlatformOptions = {}): Promise<MultiPlatformImage> {
  const { files, image } = multiPlatformFiles(options);
  await writeLayoutFiles(dir, files);
  return image;
}

/** An archive file and the image it holds. */
export interface ArchiveOf<T> {
  readonly file: string;
  readonly image: T;
}

/**
 * A multi-platform oci-archive, tagged `tag`. With OCI media types it is made by the real
 * skopeo (`copy --all --dest-oci-accept-uncompressed-layers` from an OCI layout keeps the
 * index and every child byte for byte, whatever the layers' compression). With Docker media types the layout is put in a tar by hand:
 * skopeo 1.9.3 ignores index.json entries that are not OCI types ("no descriptor found
 * for reference"), though docker 25+ and buildx write such entries for Docker manifest lists.
 */
export async function multiPlatformOciArchive(dir: string, options: MultiPlatformOptions = {}): Promise<ArchiveOf<MultiPlatformImage>> {
  await mkdir(dir, { recursive: true });
  const name = `multi-platform-${randomBytes(4).toString('hex')}`;
  const file = path.join(dir, `${name}.oci.tar`);
  if (options.mediaTypes === 'docker') {
    const { files, image } = multiPlatformFiles(options);
    await writeTar(file, ociEntries(files));
    return { file, image };
  }
  const layout = path.join(dir, name);
  const image = await writeMultiPlatformLayout(layout, options);
  // Without the flag skopeo gzips uncompressed layers on the way (new digests throughout).
  await skopeo(['copy', '--quiet', '--all', '--dest-oci-accept-uncompressed-layers', `oci:${layout}:${image.tag}`, `oci-archive:${file}:${image.tag}`]);
  await rm(layout, { recursive: true, force: true });
  return { file, image };
}

/**
 * A docker-archive of one platform of a multi-platform image, made by skopeo. skopeo 1.9.3
 * refuses `copy --all` to docker-archive ("destination transport "docker-archive" does not
 * support copying multiple images as a group"): it writes one image, the host's platform
 * unless `platform` picks another (`--override-arch`/`--override-os`). The archive is
 * skopeo's legacy layout, with the chosen platform's config and uncompressed layers.
 * OCI media types with gzip or uncompressed layers only: skopeo reads no Docker types from
 * an OCI layout and writes no zstd layer into a docker-archive.
 */
export async function multiPlatformDockerArchive(
  dir: string,
  options: MultiPlatformOptions & { readonly name?: string; readonly platform?: Platform } = {},
): Promise<ArchiveOf<MultiPlatformImage> & { readonly chosen: PlatformImage }> {
  const { name = 'acme/app', platform = AMD64 } = options;
  if (options.mediaTypes === 'docker' || options.compression === 'zstd') throw new Error('skopeo 1.9.3 cannot make a docker-archive from Docker media types in an OCI layout, nor of zstd layers');
  await mkdir(dir, { recursive: true });
  const layout = await mkdtemp(path.join(dir, 'oci-'));
  const image = await writeMultiPlatformLayout(layout, options);
  const chosen = image.images.find((i) => i.platform.architecture === platform.architecture && i.platform.os === platform.os);
  if (!chosen) throw new Error(`the index has no ${platform.os}/${platform.architecture} image to put in a docker-archive`);
  const file = path.join(dir, `multi-platform-${path.basename(layout)}.docker.tar`);
  const override = ['--override-os', platform.os, '--override-arch', platform.architecture];
  await skopeo([...override, 'copy', '--quiet', `oci:${layout}:${image.tag}`, `docker-archive:${file}:${name}:${image.tag}`]);
  await rm(layout, { recursive: true, force: true });
  return { file, image, chosen };
}

export interface DockerSaveMultiPlatformOptions extends MultiPlatformOptions {
  /** Repository name (default "acme/app"); index.json names it docker.io/<name>:<tag>. */
  readonly name?: string;
  /** The daemon's platform: manifest.json describes this one image (default linux/amd64). */
  readonly host?: Platform;
  /**
   * Platforms whose content the daemon holds (default all). The others' manifests, configs
   * and layers are left out while the index still lists them, as after
   * `docker pull --platform` of one platform: containerd's exporter skips missing content.
   */
  readonly present?: readonly Platform[];
  /**
   * Registry host the image was pulled from, if it was: containerd labels pulled content and
   * the exporter copies the label onto the index.json entry as
   * containerd.io/distribution.source.<host> = <repository path>.
   */
  readonly pulledFrom?: string;
}

const samePlatform = (a: Platform, b: Platform): boolean => a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');

/**
 * What `docker save` of a multi-platform image writes on docker 25+ with the containerd
 * image store (moby daemon/containerd/image_exporter.go over containerd's
 * images/archive/exporter.go; written by hand, no docker here): an OCI layout whose
 * index.json names the image *index* (annotations io.containerd.image.name and
 * org.opencontainers.image.ref.name), the index and the blobs of the platforms present,
 * and a manifest.json with one entry, for the host platform, whose Layers are the
 * compressed layer blobs (blobs/sha256/<hex>). No `repositories` file. Entries are sorted
 * by name, as containerd writes them.
 */
export async function writeDockerSaveMultiPlatform(file: string, options: DockerSaveMultiPlatformOptions = {}): Promise<MultiPlatformImage> {
  const { name = 'acme/app', host = AMD64 } = options;
  const { files, image, indexDescriptor } = multiPlatformFiles(options);
  const present = options.present ?? image.images.map((i) => i.platform);
  const chosen = image.images.find((i) => samePlatform(i.platform, host));
  if (!chosen || !present.some((p) => samePlatform(p, host))) throw new Error(`the host platform ${host.os}/${host.architecture} must be in the index and present`);
  const keep = new Set([`blobs/sha256/${image.index.slice('sha256:'.length)}`]);
  for (const i of image.images.filter((i) => present.some((p) => samePlatform(p, i.platform)))) {
    for (const digest of [i.manifest, i.config, ...i.layerDigests]) keep.add(`blobs/${digest.replace(':', '/')}`);
  }
  const fullName = `docker.io/${name.includes('/') ? '' : 'library/'}${name}:${image.tag}`;
  const source = options.pulledFrom ? { [`containerd.io/distribution.source.${options.pulledFrom}`]: fullName.slice('docker.io/'.length, -`:${image.tag}`.length) } : {};
  const index = { ...indexDescriptor, annotations: { ...source, 'io.containerd.image.name': fullName, [REF_NAME]: image.tag } };
  const manifestJson = [
    { Config: `blobs/${chosen.config.replace(':', '/')}`, RepoTags: [`${name}:${image.tag}`], Layers: chosen.layerDigests.map((d) => `blobs/${d.replace(':', '/')}`) },
  ];
  const entries = new Map<string, Buffer | undefined>([
    ['blobs/', undefined],
    ['blobs/sha256/', undefined],
    ...[...files].filter(([n]) => keep.has(n)),
    ['index.json', json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [index] })],
    ['manifest.json', json(manifestJson)],
    ['oci-layout', files.get('oci-layout')!],
  ]);
  await writeTar(
    file,
    [...entries].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, body]) => (body ? { path, body } : { path, type: 'directory' as const })),
  );
  return image;
}

// ---------------------------------------------------------------------------- zstd

export interface ZstdImage extends OciImage {
  readonly tag: string;
  /** Uncompressed layers and their diff_ids, as the config lists them. */
  readonly layers: readonly Layer[];
  readonly diffIds: readonly Digest[];
}

export interface ZstdOptions {
  readonly tag?: string;
  /** Default one layer of 2 KiB. */
  readonly layers?: readonly Layer[];
  /**
   * Who compresses: 'node' (zlib.zstdCompressSync, present in Node 24, into an OCI layout that
   * skopeo then copies unchanged into the archive) or 'skopeo' (`copy
   * --dest-compress-format zstd` from an uncompressed layout: what the real tool writes).
   * Default 'skopeo'.
   */
  readonly via?: 'node' | 'skopeo';
}

/**
 * An oci-archive whose layers are zstd (media type application/vnd.oci.image.layer.v1.tar+zstd),
 * the config's diff_ids those of the uncompressed tars. The digests returned are read back
 * from what was written, so they hold whoever compressed.
 */
export async function zstdOciArchive(dir: string, options: ZstdOptions = {}): Promise<ArchiveOf<ZstdImage>> {
  const { tag = 'latest', layers = [randomLayer(2048)], via = 'skopeo' } = options;
  await mkdir(dir, { recursive: true });
  const layout = await mkdtemp(path.join(dir, 'oci-'));
  const file = path.join(dir, `zstd-${path.basename(layout)}.oci.tar`);
  if (via === 'skopeo') {
    await writeOciLayout(layout, { layers, tag });
    await skopeo(['copy', '--quiet', '--dest-compress-format', 'zstd', `oci:${layout}:${tag}`, `oci-archive:${file}:${tag}`]);
  } else {
    const files = new LayoutFiles();
    const { manifest } = files.image(layers, imageConfig(layers), 'zstd', 'oci');
    files.index([{ ...manifest, annotations: { [REF_NAME]: tag } }]);
    await writeLayoutFiles(layout, files.files);
    await skopeo(['copy', '--quiet', `oci:${layout}:${tag}`, `oci-archive:${file}:${tag}`]);
  }
  await rm(layout, { recursive: true, force: true });
  const manifestText = await skopeo(['inspect', '--raw', `oci-archive:${file}:${tag}`]);
  const manifest = JSON.parse(manifestText);
  const image: ZstdImage = {
    tag,
    manifest: digestOf(manifestText),
    config: manifest.config.digest,
    layerDigests: manifest.layers.map((l: Descriptor) => l.digest),
    layers,
    diffIds: layers.map((l) => l.diffId),
  };
  return { file, image };
}

// ---------------------------------------------------------------------------- attached artifacts

export const COSIGN_SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** The empty JSON blob `{}` OCI 1.1 artifacts use as their config. */
export const EMPTY_JSON = Buffer.from('{}');
export const EXAMPLE_SBOM = 'application/vnd.example.sbom+json';

/** cosign's tag for what it attaches to a manifest: sha256-<hex>.sig, .att, .sbom. */
export const cosignTag = (manifest: Digest, suffix: 'sig' | 'att' | 'sbom'): string => `${manifest.replace(':', '-')}.${suffix}`;

/** One manifest attached to the image, and its blobs. */
export interface Attached {
  readonly manifest: Digest;
  readonly size: number;
  /** Tag in index.json, when it has one. */
  readonly tag?: string;
  readonly config: Digest;
  readonly layer: Digest;
  readonly layerMediaType: string;
}

export interface AttachedImage {
  readonly tag: string;
  /** What the others are attached to: the image manifest, or the index with `multiPlatform`. */
  readonly subject: Descriptor;
  /** The single-platform image (gzip layers), unless `multiPlatform`. */
  readonly image?: OciImage & { readonly manifestSize: number; readonly diffIds: readonly Digest[] };
  /** The index, with `multiPlatform`. */
  readonly index?: MultiPlatformImage;
  /** cosign's signature manifest, tagged sha256-<hex>.sig. */
  readonly signature: Attached;
  /** cosign's attestation manifest, tagged sha256-<hex>.att. */
  readonly attestation: Attached;
  /** The OCI 1.1 artifact whose `subject` is the image manifest. */
  readonly referrer: Attached & { readonly artifactType: string };
}

export interface AttachedOptions {
  readonly tag?: string;
  /** Repository the cosign payloads name (default "registry.example.com/acme/app"). */
  readonly repository?: string;
  /** artifactType of the referrer (default application/vnd.example.sbom+json). */
  readonly artifactType?: string;
  /** Tag the referrer too; oras leaves it untagged (an index.json entry without a ref name). */
  readonly referrerTag?: string;
  /** Sign a multi-platform index instead (what `cosign sign` of a tag naming an index signs). */
  readonly multiPlatform?: MultiPlatformOptions;
}

/**
 * An image with what signing and SBOM tools attach to it, in one OCI layout:
 * - cosign's tag scheme (cosign 1.x/2.x without the referrers API): an OCI image manifest
 *   tagged sha256-<hex>.sig whose one layer (application/vnd.dev.cosign.simplesigning.v1+json)
 *   is the simple-signing payload naming the image digest, with the base64 signature in the
 *   layer annotation dev.cosignproject.cosign/signature, and a config as go-containerregistry
 *   writes for it (empty architecture/os, diff_ids = the payload digest); .att is the same
 *   with a DSSE envelope layer (application/vnd.dsse.envelope.v1+json) and a predicateType
 *   annotation. The signatures are random bytes: shaped like cosign's, not verifiable.
 *   With `multiPlatform` the subject is an index, as when cosign signs a multi-platform tag.
 * - an OCI 1.1 artifact manifest: artifactType, the empty config (application/vnd.oci.empty.v1+json,
 *   the 2 bytes `{}`, carried inline as `data` as oras writes it), one layer and a `subject`
 *   naming the image manifest (or index). In index.json it is an entry without a ref name, as oras-go's
 *   OCI store writes every manifest it is given (content/oci/oci.go saveIndex).
 */
export function attachedFiles(options: AttachedOptions = {}): { files: Map<string, Buffer>; image: AttachedImage } {
  const { tag = 'latest', repository = 'registry.example.com/acme/app', artifactType = EXAMPLE_SBOM } = options;
  const layout = new LayoutFiles();
  let subject: Descriptor;
  let single: AttachedImage['image'];
  let index: MultiPlatformImage | undefined;
  if (options.multiPlatform) {
    const multi = multiPlatformFiles({ ...options.multiPlatform, tag });
    layout.merge(multi.files);
    index = multi.image;
    subject = { mediaType: index.indexMediaType, digest: index.index, size: index.indexSize };
  } else {
    const layers = [randomLayer(1024)];
    const base = ociFiles({ layers, gzip: true });
    layout.merge(base.files);
    subject = { mediaType: OCI_MANIFEST, digest: base.image.manifest, size: layout.size(base.image.manifest) };
    single = { ...base.image, manifestSize: subject.size, diffIds: layers.map((l) => l.diffId) };
  }
  const fakeSignature = () => randomBytes(64).toString('base64');

  // go-containerregistry's config for an image made of `payload` alone (mutate.Append on empty.Image).
  const cosignManifest = (payload: Buffer, layerMediaType: string, annotations: Record<string, string>, tagName: string): Attached => {
    const layer = layout.put(payload, layerMediaType);
    const config = layout.put(
      json({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: [{ created: '0001-01-01T00:00:00Z' }],
        os: '',
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        config: {},
      }),
      'application/vnd.oci.image.config.v1+json',
    );
    const manifest = layout.put(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...layer, annotations }] }), OCI_MANIFEST);
    return { manifest: manifest.digest, size: manifest.size, tag: tagName, config: config.digest, layer: layer.digest, layerMediaType };
  };
  const signature = cosignManifest(
    json({
      critical: { identity: { 'docker-reference': repository }, image: { 'docker-manifest-digest': subject.digest }, type: 'cosign container image signature' },
      optional: null,
    }),
    COSIGN_SIMPLESIGNING,
    { [COSIGN_SIGNATURE_ANNOTATION]: fakeSignature() },
    cosignTag(subject.digest, 'sig'),
  );
  const predicateType = 'https://slsa.dev/provenance/v0.2';
  const statement = {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType,
    subject: [{ name: repository, digest: { sha256: subject.digest.slice('sha256:'.length) } }],
    predicate: {},
  };
  const attestation = cosignManifest(
    json({ payloadType: 'application/vnd.in-toto+json', payload: json(statement).toString('base64'), signatures: [{ keyid: '', sig: fakeSignature() }] }),
    DSSE_ENVELOPE,
    { predicateType },
    cosignTag(subject.digest, 'att'),
  );

  const emptyConfig = { ...layout.put(EMPTY_JSON, OCI_EMPTY), data: EMPTY_JSON.toString('base64') };
  const sbom = layout.put(json({ spdxVersion: 'SPDX-2.3', name: repository, packages: [] }), artifactType);
  const referrerDescriptor = layout.put(
    json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: emptyConfig,
      layers: [sbom],
      subject,
      annotations: { 'org.opencontainers.image.created': '2024-05-01T12:00:00Z' },
    }),
    OCI_MANIFEST,
  );
  const referrer = {
    manifest: referrerDescriptor.digest,
    size: referrerDescriptor.size,
    tag: options.referrerTag,
    config: emptyConfig.digest,
    layer: sbom.digest,
    layerMediaType: artifactType,
    artifactType,
  };

  const refName = (name: string | undefined) => (name ? { annotations: { [REF_NAME]: name } } : {});
  layout.index([
    { ...subject, ...refName(tag) },
    { mediaType: OCI_MANIFEST, digest: signature.manifest, size: signature.size, ...refName(signature.tag) },
    { mediaType: OCI_MANIFEST, digest: attestation.manifest, size: attestation.size, ...refName(attestation.tag) },
    { mediaType: OCI_MANIFEST, digest: referrer.manifest, size: referrer.size, artifactType, ...refName(referrer.tag) },
  ]);
  return { files: layout.files, image: { tag, subject, image: single, index, signature, attestation, referrer } };
}

/** Write the layout of `attachedFiles` under `dir` (`oci:DIR:TAG` for each tag). */
export async function writeAttachedLayout(dir: string, options: AttachedOptions = {}): Promise<AttachedImage> {
  const { files, image } = attachedFiles(options);
  await writeLayoutFiles(dir, files);
  return image;
}

/**
 * The same as an oci-archive: the layout's files in a tar, which is all an oci-archive is.
 * Not through skopeo, which copies one image per call and would drop the other entries.
 */
export async function attachedOciArchive(dir: string, options: AttachedOptions = {}): Promise<ArchiveOf<AttachedImage>> {
  const { files, image } = attachedFiles(options);
  const file = path.join(dir, `attached-${randomBytes(4).toString('hex')}.oci.tar`);
  await writeTar(file, ociEntries(files));
  return { file, image };
}
