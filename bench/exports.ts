import { createHash, createCipheriv, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { END_OF_ARCHIVE, tarEntry } from '../test/helpers/archives.ts';

/**
 * Synthetic Pulp 2 exports (the classic raas input: `<repo>.json` + web/<id>/{json,ancestry,layer})
 * of incompressible layers, written together with the same files already extracted, which
 * is what the AWS CLI uploads. Layers are streamed to disk, so a 1 GiB case needs no 1 GiB
 * buffer. Docker refused chains deeper than 127 (raas refuses 256), so many layers are
 * split into several tagged images.
 */
export interface ExportCase {
  readonly name: string;
  readonly chains: number;
  readonly layersPerChain: number;
  readonly layerBytes: number;
}

export interface WrittenExport {
  readonly archive: string;
  /** The web/ directory of the export, extracted. */
  readonly extracted: string;
  readonly objects: number;
  readonly bytes: number;
}

const CHUNK = 1024 * 1024;

export function writeExport(dir: string, spec: ExportCase): WrittenExport {
  const archive = path.join(dir, `${spec.name}.tar`);
  const extracted = path.join(dir, `${spec.name}-files`);
  const tar = openSync(archive, 'w');
  const random = incompressible();
  let objects = 0;
  let bytes = 0;
  const append = (name: string, size: number, body: (write: (data: Buffer) => void) => void): void => {
    const file = path.join(extracted, name);
    mkdirSync(path.dirname(file), { recursive: true });
    const out = openSync(file, 'w');
    writeSync(tar, tarEntry({ path: `web/${name}`, size }));
    body((data) => {
      writeSync(tar, data);
      writeSync(out, data);
    });
    writeSync(tar, Buffer.alloc((512 - (size % 512)) % 512));
    closeSync(out);
    objects += 1;
    bytes += size;
  };

  const images: { id: string }[] = [];
  const tags: Record<string, string> = {};
  for (let c = 0; c < spec.chains; c++) {
    const ancestry: string[] = [];
    for (let l = 0; l < spec.layersPerChain; l++) {
      const id = createHash('sha256').update(randomBytes(32)).digest('hex');
      const json = Buffer.from(JSON.stringify({ id, parent: ancestry[0], created: '2015-01-01T00:00:00Z', Size: spec.layerBytes }));
      ancestry.unshift(id);
      const ancestryBytes = Buffer.from(JSON.stringify(ancestry));
      append(`${id}/json`, json.length, (write) => write(json));
      append(`${id}/ancestry`, ancestryBytes.length, (write) => write(ancestryBytes));
      append(`${id}/layer`, spec.layerBytes, (write) => {
        for (let left = spec.layerBytes; left > 0; left -= CHUNK) {
          const chunk = random(Math.min(CHUNK, left));
          // Random bytes open with gzip's magic (1f 8b) once in 65536 layers, and raas then
          // reads the layer as a corrupt gzip stream: a first byte of 0 keeps them raw data.
          if (left === spec.layerBytes) chunk[0] = 0;
          write(chunk);
        }
      });
      images.push({ id });
    }
    tags[spec.chains === 1 ? 'latest' : `chain${c + 1}`] = ancestry[0]!;
  }
  const redirect = Buffer.from(JSON.stringify({
    type: 'pulp-docker-redirect', version: 1, repository: `bench-${spec.name}`, 'repo-registry-id': `bench/${spec.name}`,
    url: `https://cdn.example.com/bench-${spec.name}/`, protected: false, images, tags,
  }));
  writeSync(tar, tarEntry({ path: `bench-${spec.name}.json`, body: redirect }));
  writeSync(tar, END_OF_ARCHIVE);
  closeSync(tar);
  return { archive, extracted, objects, bytes };
}

/** AES-CTR keystream: as incompressible as random bytes, and generated at memory speed. */
function incompressible(): (size: number) => Buffer {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  const zeros = Buffer.alloc(CHUNK);
  return (size) => cipher.update(zeros.subarray(0, size));
}

export interface WrittenDockerArchive {
  readonly archive: string;
  /** name:tag of each image, as skopeo's docker-archive transport and raas's tags name them. */
  readonly refs: readonly string[];
  /** Per ref: the config digest and the diff_ids (the digests of the plain layer tars). */
  readonly images: ReadonlyMap<string, { readonly config: string; readonly diffIds: readonly string[] }>;
  readonly bytes: number;
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * The same case as a docker-archive, the shape `docker save` and skopeo write (manifest.json,
 * configs, plain layer tars), which `skopeo copy docker-archive:` reads.
 */
export function writeDockerArchive(dir: string, spec: ExportCase): WrittenDockerArchive {
  const archive = path.join(dir, `${spec.name}.docker.tar`);
  const tar = openSync(archive, 'w');
  const random = incompressible();
  const entry = (name: string, body: Buffer): void => {
    writeSync(tar, tarEntry({ path: name, size: body.length }));
    writeSync(tar, body);
    writeSync(tar, Buffer.alloc((512 - (body.length % 512)) % 512));
  };
  const items: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const images = new Map<string, { config: string; diffIds: string[] }>();
  let bytes = 0;
  for (let c = 0; c < spec.chains; c++) {
    const files: string[] = [];
    const diffIds: string[] = [];
    for (let l = 0; l < spec.layersPerChain; l++) {
      const chunks = Array.from({ length: Math.ceil(spec.layerBytes / CHUNK) }, (_, i) => random(Math.min(CHUNK, spec.layerBytes - i * CHUNK)));
      const layer = Buffer.concat([tarEntry({ path: 'data.bin', size: spec.layerBytes }), ...chunks, Buffer.alloc((512 - (spec.layerBytes % 512)) % 512), END_OF_ARCHIVE]);
      diffIds.push(sha256(layer));
      const file = `${sha256(layer).slice('sha256:'.length)}.tar`;
      files.push(file);
      entry(file, layer);
      bytes += layer.length;
    }
    const config = Buffer.from(JSON.stringify({
      architecture: 'amd64', os: 'linux', created: '2015-01-01T00:00:00Z', config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: '2015-01-01T00:00:00Z', created_by: 'bench' })),
    }));
    const configFile = `${sha256(config).slice('sha256:'.length)}.json`;
    entry(configFile, config);
    const ref = `bench/${spec.name}:${spec.chains === 1 ? 'latest' : `chain${c + 1}`}`;
    items.push({ Config: configFile, RepoTags: [ref], Layers: files });
    images.set(ref, { config: sha256(config), diffIds });
  }
  entry('manifest.json', Buffer.from(JSON.stringify(items)));
  writeSync(tar, END_OF_ARCHIVE);
  closeSync(tar);
  return { archive, refs: [...images.keys()], images, bytes };
}
