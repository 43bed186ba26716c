import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { readArchive } from '../../src/image/read.ts';
import type { ImageRepository } from '../../src/image/model.ts';
import { verifyLayers } from '../../src/image/verify.ts';
import { TarIndex } from '../../src/image/tar-index.ts';
import { resolveLimits } from '../../src/image/limits.ts';
import {
  dockerSaveEntries,
  imageConfig,
  makeExample,
  ociEntries,
  ociFiles,
  randomLayer,
  tarBuffer,
  writeDockerSave,
  writeTar,
  type ExampleFormat,
  type TarEntrySpec,
} from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';

const FORMATS: readonly ExampleFormat[] = ['pulp', 'docker-archive', 'oci-archive', 'docker-save pre-1.10', 'docker-save 1.10-24', 'docker-save 25+'];

const bytesOf = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** What every reader must produce, whatever the format. */
function assertWellFormed(repo: ImageRepository): void {
  const ids = new Set<string>();
  for (const image of repo.images) {
    if (image.parent) assert.ok(ids.has(image.parent), 'parents come before children');
    ids.add(image.id);
    assert.equal(image.ancestry[0], image.id);
    assert.deepEqual(image.ancestry.slice(1), image.parent ? repo.images.find((i) => i.id === image.parent)!.ancestry : []);
    const v1 = JSON.parse(image.json.toString());
    assert.equal(v1.id, image.id, 'the published v1 JSON names its id as plain hex');
    assert.equal(v1.parent, image.parent);
  }
  for (const id of repo.tags.values()) assert.ok(ids.has(id));
}

describe('readArchive', () => {
  for (const format of FORMATS) {
    for (const gzip of [false, true]) {
      it(`reads ${format}${gzip ? ' (gzip)' : ''}`, async (t) => {
        const dir = await tempDir(t);
        const example = await makeExample({ dir: path.join(dir, 'in'), format, layers: 3, tag: 'v2', gzip });
        const workDir = path.join(dir, 'work');
        const repo = await readArchive(example.file, { workDir });

        assert.equal(repo.format, example.format);
        assert.deepEqual(repo.images.map((i) => i.id), example.ids);
        assert.deepEqual([...repo.tags], [['v2', example.ids.at(-1)]]);
        assert.equal(repo.archiveName, format === 'oci-archive' ? undefined : 'acme/app');
        assertWellFormed(repo);

        // The top image carries the image config, where the archive has one, with the digest of its bytes.
        const config = repo.images.at(-1)!.config;
        assert.ok(repo.images.slice(0, -1).every((i) => i.config === undefined));
        if (format === 'pulp' || format === 'docker-save pre-1.10') assert.equal(config, undefined);
        else {
          assert.equal(config!.digest, `sha256:${createHash('sha256').update(config!.bytes).digest('hex')}`);
          assert.deepEqual(JSON.parse(config!.bytes.toString()).rootfs.diff_ids, example.layers.map((l) => l.diffId));
        }

        const sums = await verifyLayers(repo.images, { concurrency: 2 });
        assert.equal(sums.size, 3);
        for (const [i, image] of repo.images.entries()) {
          const layer = await bytesOf(image.layer.open());
          assert.equal(layer.length, image.layer.size);
          const tar = layer[0] === 0x1f && layer[1] === 0x8b ? gunzipSync(layer) : layer;
          assert.ok(tar.equals(example.layers[i]!.tar), 'the layer is the one written');
          if (format !== 'pulp' && format !== 'docker-save pre-1.10') {
            assert.equal(image.diffId, example.layers[i]!.diffId);
            assert.equal(image.layerDigest, `sha256:${sums.get(image.id)}`);
          }
        }
        // A gzip archive leaves exactly its decompressed copy in workDir, a plain one nothing.
        const left = await readdir(workDir, { recursive: true }).catch(() => []);
        assert.equal(left.filter((f) => f.endsWith('.tar')).length, gzip ? 1 : 0);
      });
    }
  }

  it('follows the symlinks skopeo writes for <id>/layer.tar, inside the archive', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'docker-archive', layers: 2 });
    const index = await TarIndex.open(example.file, path.join(dir, 'work'), resolveLimits());
    for (const [i, id] of example.ids.entries()) {
      const resolved = index.file(`${id}/layer.tar`)!;
      assert.equal(resolved.path, `${example.layers[i]!.diffId.slice(7)}.tar`);
    }
    const repo = await readArchive(example.file, { workDir: path.join(dir, 'work') });
    assert.match(repo.images[0]!.layer.where!, /entry "[0-9a-f]{64}\.tar"$/);
  });

  it('derives docker-compatible v1 JSON for OCI images and keeps the config fields on the top layer', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'oci-archive', layers: 2 });
    const repo = await readArchive(example.file, { workDir: path.join(dir, 'work') });
    const [base, top] = repo.images.map((i) => JSON.parse(i.json.toString()));
    assert.deepEqual(Object.keys(base), ['id', 'created', 'container_config', 'os']);
    assert.equal(base.created, '1970-01-01T00:00:00Z');
    assert.deepEqual(Object.keys(top), ['id', 'parent', 'created', 'container_config', 'config', 'architecture', 'os']);
    assert.deepEqual(top.config.Env, ['PATH=/usr/bin:/bin']);
    assert.equal(top.created, '2024-05-01T12:00:00.5Z');
    assert.equal(repo.images[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  });

  it('picks the linux/amd64 image of a multi-platform index', async (t) => {
    const dir = await tempDir(t);
    const amd64 = ociFiles({ layers: [randomLayer()] });
    const arm64 = ociFiles({ layers: [randomLayer()], config: imageConfig([randomLayer()], { architecture: 'arm64' }) });
    const descriptor = (files: Map<string, Buffer>) => JSON.parse(files.get('index.json')!.toString()).manifests[0];
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { ...descriptor(arm64.files), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          { ...descriptor(amd64.files), platform: { os: 'linux', architecture: 'amd64' } },
          { ...descriptor(arm64.files), platform: { os: 'unknown', architecture: 'unknown' } },
        ],
      }),
    );
    const nestedDigest = createHash('sha256').update(nested).digest('hex');
    const files = new Map([...arm64.files, ...amd64.files, [`blobs/sha256/${nestedDigest}`, nested]]);
    const ref = { 'org.opencontainers.image.ref.name': 'docker.io/acme/multi:2.0' };
    const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${nestedDigest}`, size: nested.length, annotations: ref }] };
    files.set('index.json', Buffer.from(JSON.stringify(index)));
    const file = await writeTar(path.join(dir, 'multi.tar'), ociEntries(files));
    const repo = await readArchive(file, { workDir: path.join(dir, 'work') });
    assert.equal(repo.images.length, 1);
    assert.equal(repo.images[0]!.layerDigest, amd64.image.layerDigests[0]);
    assert.equal(repo.archiveName, 'acme/multi');
    assert.deepEqual([...repo.tags.keys()], ['2.0']);
  });

  it('keeps the bytes of Pulp v1 JSON as exported', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'pulp', layers: 1 });
    const repo = await readArchive(example.file, { workDir: path.join(dir, 'work') });
    const index = await TarIndex.open(example.file, path.join(dir, 'work'), resolveLimits());
    const stored = await index.read(index.file(`web/${example.ids[0]}/json`)!);
    assert.ok(repo.images[0]!.json.equals(stored));
    assert.equal(repo.images[0]!.layerDigest, undefined);
  });

  it('prefers manifest.json over the OCI layout in docker 25+ archives, naming the repository familiarly', async (t) => {
    const dir = await tempDir(t);
    const layers = [randomLayer(), randomLayer()];
    const file = await writeDockerSave(path.join(dir, 'd25.tar'), { layers, name: 'library/busybox', tag: '1.36' }, '25+');
    const repo = await readArchive(file, { workDir: path.join(dir, 'work') });
    assert.equal(repo.format, 'docker-archive');
    assert.equal(repo.archiveName, 'busybox');
    assert.equal(repo.tags.get('1.36'), repo.images[1]!.id);
  });

  it('ignores whatever follows the end-of-archive blocks', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'docker-save 1.10-24', layers: 1 });
    await appendFile(example.file, Buffer.concat([Buffer.from('trailing garbage'), tarBuffer([{ path: '../evil', body: 'x' }])]));
    const repo = await readArchive(example.file, { workDir: path.join(dir, 'work') });
    assert.deepEqual(repo.images.map((i) => i.id), example.ids);
  });

  it('reads byte ranges of a layer, as multipart uploads do', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'docker-save 1.10-24', layers: 1, layerBytes: 5000 });
    const repo = await readArchive(example.file, { workDir: path.join(dir, 'work') });
    const { layer } = repo.images[0]!;
    const whole = await bytesOf(layer.open());
    const parts = [await bytesOf(layer.open(0, 1000)), await bytesOf(layer.open(1000, 1000)), await bytesOf(layer.open(1000, layer.size))];
    assert.ok(Buffer.concat(parts).equals(whole));
    assert.equal(createHash('sha256').update(whole).digest('hex'), example.layers[0]!.diffId.slice(7));
    assert.throws(() => layer.open(0, layer.size + 1), RangeError);
    assert.throws(() => layer.open(10, 5), RangeError);
  });

  it('tells apart images that share every layer and differ only in their config', async (t) => {
    const dir = await tempDir(t);
    const layers = [randomLayer(), randomLayer()];
    const save = (tag: string, env: string) =>
      dockerSaveEntries({ layers, name: 'acme/app', tag, config: imageConfig(layers, { config: { Env: [env] } }) }, '1.10-24');
    const [one, two] = [save('v1', 'A=1'), save('v2', 'A=2')];
    assert.equal(one.ids[0], two.ids[0], 'the base layer is shared');
    const manifest = (entries: TarEntrySpec[]) => JSON.parse(String(entries.find((e) => e.path === 'manifest.json')!.body));
    const own = (entries: TarEntrySpec[]) => entries.filter((e) => e.path !== 'manifest.json' && e.path !== 'repositories');
    // docker writes a layer it already wrote as a symlink to the first copy.
    const linked = own(two.entries).map((e): TarEntrySpec =>
      e.path === `${two.ids[1]}/layer.tar` ? { path: e.path, type: 'symlink', linkpath: `../${one.ids[1]}/layer.tar` } : e,
    );
    const file = await writeTar(path.join(dir, 'both.tar'), [
      ...own(one.entries),
      ...linked,
      { path: 'manifest.json', body: JSON.stringify([...manifest(two.entries), ...manifest(one.entries)]) },
    ]);
    const repo = await readArchive(file, { workDir: path.join(dir, 'work') });
    assert.deepEqual(repo.images.map((i) => i.id).sort(), [one.ids[0], one.ids[1], two.ids[1]].sort());
    assert.deepEqual(Object.fromEntries(repo.tags), { v1: one.ids[1], v2: two.ids[1] });
    const env = (id: string) => JSON.parse(repo.images.find((i) => i.id === id)!.config!.bytes.toString()).config.Env;
    assert.deepEqual([env(one.ids[1]!), env(two.ids[1]!)], [['A=1'], ['A=2']]);
  });

  it('keeps the config of an image whose top layer is a lower layer of another image in the archive', async (t) => {
    const dir = await tempDir(t);
    const layers = [randomLayer(), randomLayer(), randomLayer()];
    const child = dockerSaveEntries({ layers, name: 'acme/app', tag: 'child' }, '1.10-24');
    const baseConfig = imageConfig(layers.slice(0, 2), { config: { Env: ['BASE=1'] } });
    const baseName = `${createHash('sha256').update(baseConfig).digest('hex')}.json`;
    const childItem = JSON.parse(String(child.entries.find((e) => e.path === 'manifest.json')!.body))[0];
    const base = { Config: baseName, RepoTags: ['acme/app:base'], Layers: child.ids.slice(0, 2).map((id) => `${id}/layer.tar`) };
    const file = await writeTar(path.join(dir, 'family.tar'), [
      ...child.entries.filter((e) => e.path !== 'manifest.json' && e.path !== 'repositories'),
      { path: baseName, body: baseConfig },
      { path: 'manifest.json', body: JSON.stringify([base, childItem]) },
    ]);
    const repo = await readArchive(file, { workDir: path.join(dir, 'work') });
    assert.deepEqual(Object.fromEntries(repo.tags), { base: child.ids[1], child: child.ids[2] });
    assert.ok(repo.images.find((i) => i.id === child.ids[1])!.config!.bytes.equals(baseConfig));
  });

  it('refuses an archive holding several repositories', async (t) => {
    const dir = await tempDir(t);
    const { entries, ids } = dockerSaveEntries({ layers: [randomLayer()], name: 'acme/app', tag: 'v1' }, 'pre-1.10');
    const repositories = JSON.stringify({ 'acme/a': { v1: ids[0] }, 'b/c': { v2: ids[0] } });
    const file = await writeTar(path.join(dir, 'two.tar'), [...entries.filter((e) => e.path !== 'repositories'), { path: 'repositories', body: repositories }]);
    await assert.rejects(readArchive(file, { workDir: path.join(dir, 'work') }), /holds several repositories \("acme\/a", "b\/c"\)/);
  });
});
