import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { Header, Pax } from 'tar';
import type { ArchiveFormat, Digest } from '../../src/image/model.ts';
import { deriveV1Images } from '../../src/image/v1id.ts';

/**
 * Image archives for tests, written the way the real tools write them: by hand in the
 * exact layouts of Pulp exports, `docker save` (all generations) and OCI layouts, and by
 * the real `skopeo` for docker-archive and oci-archive. `makeExample` is the one-call
 * entry point; the builders below it are for tests that need a particular shape.
 */

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const digestOf = (data: Buffer | string): Digest => `sha256:${sha256(data)}`;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

// ---------------------------------------------------------------------------- tar

/** One tar entry. `typeflag` is a raw tar type ('0' file, '2' symlink, '3' device, 'x' PAX...). */
export interface TarEntrySpec {
  readonly path: string;
  readonly body?: string | Buffer;
  readonly type?: 'file' | 'directory' | 'symlink' | 'hardlink';
  readonly typeflag?: string;
  readonly linkpath?: string;
  /** Declared size when it should differ from the body's. */
  readonly size?: number;
}

const TYPEFLAGS = { file: '0', directory: '5', symlink: '2', hardlink: '1' } as const;

/** Header and padded body of one entry, with a PAX header first when the name does not fit ustar. */
export function tarEntry(spec: TarEntrySpec): Buffer {
  const body = Buffer.from(spec.body ?? '');
  const size = spec.size ?? body.length;
  const header = new Header({
    path: spec.path,
    mode: spec.type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime: new Date(0),
    linkpath: spec.linkpath ?? '',
    uname: '',
    gname: '',
  });
  const block = Buffer.alloc(512);
  const needPax = header.encode(block);
  // Raw typeflag byte, so that tests can write any type, including ones node-tar refuses.
  block[156] = (spec.typeflag ?? TYPEFLAGS[spec.type ?? 'file']).charCodeAt(0) || 0;
  writeChecksum(block);
  // Sizes past ustar's 8 GiB travel in the PAX header, as Go and GNU tar write them.
  const pax = needPax ? new Pax({ path: spec.path, linkpath: spec.linkpath || undefined, size: size > 0o77777777777 ? size : undefined }).encode() : Buffer.alloc(0);
  return Buffer.concat([pax, block, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** Recompute a header block's checksum after editing it. */
export function writeChecksum(block: Buffer, offset = 0): void {
  block.fill(0x20, offset + 148, offset + 156);
  let sum = 0;
  for (let i = offset; i < offset + 512; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + 148, 'ascii');
}

export const END_OF_ARCHIVE = Buffer.alloc(1024);

export const tarBuffer = (entries: readonly TarEntrySpec[]): Buffer => Buffer.concat([...entries.map(tarEntry), END_OF_ARCHIVE]);

export async function writeTar(file: string, entries: readonly TarEntrySpec[], options: { gzip?: boolean } = {}): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const tar = tarBuffer(entries);
  await writeFile(file, options.gzip ? gzipSync(tar) : tar);
  return file;
}

// ---------------------------------------------------------------------------- layers and configs

/** An uncompressed layer tar and its diff_id. */
export interface Layer {
  readonly tar: Buffer;
  readonly diffId: Digest;
}

/** A layer holding one file of random bytes (so every layer is distinct). */
export function randomLayer(bytes = 1024, name = 'data.bin'): Layer {
  const tar = tarBuffer([{ path: name, body: randomBytes(bytes) }]);
  return { tar, diffId: digestOf(tar) };
}

/** An image config as docker writes it, with rootfs.diff_ids for `layers`; `extra` fields override. */
export function imageConfig(layers: readonly Layer[], extra: Record<string, unknown> = {}): Buffer {
  return json({
    architecture: 'amd64',
    os: 'linux',
    created: '2024-05-01T12:00:00.5Z',
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    ...extra,
  });
}

/** The v1 ids (base first) and v1 JSON docker <= 24 gave these layers, as raas derives them. */
function dockerV1(config: Buffer, layers: readonly Layer[]): { id: string; json: Buffer }[] {
  return deriveV1Images(JSON.parse(config.toString()), layers.map((l) => l.diffId));
}

// ---------------------------------------------------------------------------- OCI

export interface OciSpec {
  readonly layers: readonly Layer[];
  readonly tag?: string;
  /** Store layers gzip-compressed (media type tar+gzip). */
  readonly gzip?: boolean;
  readonly config?: Buffer;
  /** Change the manifest before it is stored (tests of broken archives). */
  readonly editManifest?: (manifest: Record<string, any>) => void;
}

export interface OciImage {
  readonly manifest: Digest;
  readonly config: Digest;
  /** Digests of the layer blobs as stored (compressed when `gzip`). */
  readonly layerDigests: readonly Digest[];
}

/** The files of an OCI image layout, by relative path. */
export function ociFiles(spec: OciSpec): { files: Map<string, Buffer>; image: OciImage } {
  const files = new Map<string, Buffer>();
  const put = (data: Buffer, mediaType: string) => {
    files.set(`blobs/sha256/${sha256(data)}`, data);
    return { mediaType, digest: digestOf(data), size: data.length };
  };
  const config = put(spec.config ?? imageConfig(spec.layers), 'application/vnd.oci.image.config.v1+json');
  const layers = spec.layers.map((layer) =>
    spec.gzip ? put(gzipSync(layer.tar), 'application/vnd.oci.image.layer.v1.tar+gzip') : put(layer.tar, 'application/vnd.oci.image.layer.v1.tar'),
  );
  const manifestObject = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers };
  spec.editManifest?.(manifestObject);
  const manifest = put(json(manifestObject), 'application/vnd.oci.image.manifest.v1+json');
  const annotations = spec.tag ? { 'org.opencontainers.image.ref.name': spec.tag } : undefined;
  files.set('index.json', json({ schemaVersion: 2, manifests: [{ ...manifest, annotations }] }));
  files.set('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
  return { files, image: { manifest: manifest.digest, config: config.digest, layerDigests: layers.map((l) => l.digest) } };
}

/** Write an OCI image layout directory (what `skopeo copy oci:DIR:TAG ...` reads). */
export async function writeOciLayout(dir: string, spec: OciSpec): Promise<OciImage> {
  const { files, image } = ociFiles(spec);
  for (const [name, data] of files) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), data);
  }
  return image;
}

/** Tar entries of an OCI layout, as an oci-archive holds them. */
export const ociEntries = (files: ReadonlyMap<string, Buffer>): TarEntrySpec[] => [...files].map(([name, body]) => ({ path: name, body }));

/** `skopeo copy` between transport references ("oci:DIR:TAG", "docker-archive:FILE:NAME:TAG", "oci-archive:FILE:TAG"). */
export async function skopeoCopy(src: string, dst: string): Promise<void> {
  await execa('skopeo', ['copy', '--quiet', '--insecure-policy', src, dst]);
}

// ---------------------------------------------------------------------------- Pulp

export interface PulpImage {
  readonly id: string;
  readonly parent?: string;
  readonly layer: Buffer;
  /** Extra v1 JSON fields; `id` and `parent` are filled in. */
  readonly json?: Record<string, unknown>;
  /** Defaults to the parent chain. */
  readonly ancestry?: readonly string[];
}

export interface PulpSpec {
  readonly repoId: string;
  readonly registryId?: string;
  readonly images: readonly PulpImage[];
  readonly tags: Readonly<Record<string, string>>;
}

/** Images with fresh random ids, one per layer, each the parent of the next. */
export function pulpChain(layers: readonly Layer[]): PulpImage[] {
  const images: PulpImage[] = [];
  for (const layer of layers) images.push({ id: randomBytes(32).toString('hex'), parent: images.at(-1)?.id, layer: layer.tar });
  return images;
}

/** The tar entries of a Pulp 2 export (for tests that add or change some). */
export function pulpEntries(spec: PulpSpec): TarEntrySpec[] {
  const byId = new Map(spec.images.map((i) => [i.id, i]));
  const chain = (image: PulpImage): string[] => {
    const parent = image.parent === undefined ? undefined : byId.get(image.parent);
    return [image.id, ...(parent ? chain(parent) : image.parent ? [image.parent] : [])];
  };
  const redirect = {
    type: 'pulp-docker-redirect',
    version: 1,
    repository: spec.repoId,
    'repo-registry-id': spec.registryId ?? spec.repoId,
    url: `https://cdn.example.com/pulp/docker/${spec.repoId}/`,
    protected: false,
    images: spec.images.map((i) => ({ id: i.id })),
    tags: spec.tags,
  };
  return [
    { path: `${spec.repoId}.json`, body: json(redirect) },
    { path: 'web/', type: 'directory' },
    ...spec.images.flatMap((image): TarEntrySpec[] => [
      { path: `web/${image.id}/`, type: 'directory' },
      { path: `web/${image.id}/json`, body: json({ id: image.id, parent: image.parent, created: '2015-01-01T00:00:00Z', ...image.json }) },
      { path: `web/${image.id}/ancestry`, body: json(image.ancestry ?? chain(image)) },
      { path: `web/${image.id}/layer`, body: image.layer },
    ]),
  ];
}

export const writePulpExport = (file: string, spec: PulpSpec, options: { gzip?: boolean } = {}): Promise<string> =>
  writeTar(file, pulpEntries(spec), options);

// ---------------------------------------------------------------------------- docker save

/** Which docker generation's `docker save` layout to write. */
export type DockerSaveStyle = 'pre-1.10' | '1.10-24' | '25+';

export interface DockerSaveSpec {
  readonly layers: readonly Layer[];
  readonly name: string;
  readonly tag: string;
  readonly config?: Buffer;
}

/** The entries `docker save` writes, without running docker; returns them and the v1 ids (base first) it uses. */
export function dockerSaveEntries(spec: DockerSaveSpec, style: DockerSaveStyle): { entries: TarEntrySpec[]; ids: string[] } {
  const config = spec.config ?? imageConfig(spec.layers);
  const v1 = dockerV1(config, spec.layers);
  const ids = v1.map((i) => i.id);
  const repoTag = `${spec.name}:${spec.tag}`;
  if (style === '25+') {
    const blob = (data: Buffer): TarEntrySpec => ({ path: `blobs/sha256/${sha256(data)}`, body: data });
    const manifest = json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: spec.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.diffId, size: l.tar.length })),
    });
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: digestOf(manifest),
          size: manifest.length,
          annotations: { 'io.containerd.image.name': `docker.io/${spec.name.includes('/') ? '' : 'library/'}${repoTag}`, 'org.opencontainers.image.ref.name': spec.tag },
        },
      ],
    };
    const entries: TarEntrySpec[] = [
      { path: 'blobs/', type: 'directory' },
      { path: 'blobs/sha256/', type: 'directory' },
      ...spec.layers.map((l) => blob(l.tar)),
      blob(config),
      blob(manifest),
      { path: 'index.json', body: json(index) },
      { path: 'manifest.json', body: json([{ Config: `blobs/sha256/${sha256(config)}`, RepoTags: [repoTag], Layers: spec.layers.map((l) => `blobs/${l.diffId.replace(':', '/')}`) }]) },
      { path: 'oci-layout', body: json({ imageLayoutVersion: '1.0.0' }) },
      // docker 25+ maps the tag to the top layer's diff_id here, not to a v1 id.
      { path: 'repositories', body: json({ [spec.name]: { [spec.tag]: sha256(spec.layers.at(-1)!.tar) } }) },
    ];
    return { entries, ids };
  }
  const entries: TarEntrySpec[] = v1.flatMap((image, i): TarEntrySpec[] => [
    { path: `${image.id}/`, type: 'directory' },
    { path: `${image.id}/VERSION`, body: '1.0' },
    { path: `${image.id}/json`, body: image.json },
    { path: `${image.id}/layer.tar`, body: spec.layers[i]!.tar },
  ]);
  if (style === '1.10-24') {
    entries.push({ path: `${sha256(config)}.json`, body: config });
    entries.push({ path: 'manifest.json', body: json([{ Config: `${sha256(config)}.json`, RepoTags: [repoTag], Layers: ids.map((id) => `${id}/layer.tar`) }]) });
  }
  entries.push({ path: 'repositories', body: json({ [spec.name]: { [spec.tag]: ids.at(-1) } }) });
  return { entries, ids };
}

export const writeDockerSave = (file: string, spec: DockerSaveSpec, style: DockerSaveStyle, options: { gzip?: boolean } = {}): Promise<string> =>
  writeTar(file, dockerSaveEntries(spec, style).entries, options);

/** skopeo's docker-archive v1 ids (containers/image docker/internal/tarfile/writer.go), base first. */
function skopeoV1Ids(config: Buffer, layers: readonly Layer[]): string[] {
  const parsed = JSON.parse(config.toString());
  const ids: string[] = [];
  let chain: string | undefined;
  layers.forEach((layer, i) => {
    chain = chain === undefined ? layer.diffId : digestOf(`${chain} ${layer.diffId}`);
    const fields: Record<string, unknown> = { layer_id: chain };
    if (ids.length > 0) fields['parent'] = ids.at(-1);
    if (i === layers.length - 1) {
      for (const key of ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os']) fields[key] = parsed[key] ?? null;
    }
    const sorted = Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1)));
    ids.push(sha256(JSON.stringify(sorted)));
  });
  return ids;
}

// ---------------------------------------------------------------------------- examples

/**
 * How to make the example: the three formats raas reads, with docker-archive written by
 * skopeo ('docker-archive') or by hand in the layout of a docker generation.
 */
export type ExampleFormat = ArchiveFormat | `docker-save ${DockerSaveStyle}`;

export interface ExampleOptions {
  /** Directory to write into (the caller removes it). */
  readonly dir: string;
  readonly format: ExampleFormat;
  /** Number of layers (default 2) or the layers themselves. */
  readonly layers?: number | readonly Layer[];
  readonly tag?: string;
  /** Repository name the archive gives (default "acme/app"). */
  readonly name?: string;
  /** gzip the whole archive. */
  readonly gzip?: boolean;
  /** Bytes of random data per generated layer (default 1024). */
  readonly layerBytes?: number;
}

export interface Example {
  readonly file: string;
  /** The format readArchive reports. */
  readonly format: ArchiveFormat;
  readonly name: string;
  readonly tag: string;
  /** v1 ids readArchive reports, base first. */
  readonly ids: readonly string[];
  readonly layers: readonly Layer[];
}

/** Write one image archive and say what reading it must give. */
export async function makeExample(options: ExampleOptions): Promise<Example> {
  const { dir, format, tag = 'latest', name = 'acme/app', gzip = false } = options;
  const layers =
    typeof options.layers === 'object' ? options.layers : Array.from({ length: options.layers ?? 2 }, () => randomLayer(options.layerBytes));
  const config = imageConfig(layers);
  await mkdir(dir, { recursive: true });
  let file = path.join(dir, `${format.replace(/[^a-z0-9.]+/g, '-')}-${tag}-${randomBytes(4).toString('hex')}.tar`);
  let ids: string[];
  let reported: ArchiveFormat;
  if (format === 'pulp') {
    const images = pulpChain(layers);
    await writePulpExport(file, { repoId: name.replace('/', '-'), registryId: name, images, tags: { [tag]: images.at(-1)!.id } });
    ids = images.map((i) => i.id);
    reported = 'pulp';
  } else if (format === 'docker-archive' || format === 'oci-archive') {
    const layout = await mkdtemp(path.join(dir, 'oci-'));
    await writeOciLayout(layout, { layers, tag, gzip: true, config });
    const dst = format === 'docker-archive' ? `docker-archive:${file}:${name}:${tag}` : `oci-archive:${file}:${tag}`;
    await skopeoCopy(`oci:${layout}:${tag}`, dst);
    await rm(layout, { recursive: true, force: true });
    ids = format === 'docker-archive' ? skopeoV1Ids(config, layers) : dockerV1(config, layers).map((i) => i.id);
    reported = format;
  } else {
    const style = format.slice('docker-save '.length) as DockerSaveStyle;
    const written = dockerSaveEntries({ layers, name, tag, config }, style);
    await writeTar(file, written.entries);
    ids = written.ids;
    reported = 'docker-archive';
  }
  if (gzip) {
    await writeFile(`${file}.gz`, gzipSync(await readFile(file)));
    await rm(file);
    file = `${file}.gz`;
  }
  return { file, format: reported, name, tag, ids, layers };
}
