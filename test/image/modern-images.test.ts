import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { tempDir } from '../helpers/git.ts';
import {
  AMD64,
  ARM64,
  multiPlatformDockerArchive,
  multiPlatformOciArchive,
  skopeo,
  writeDockerSaveMultiPlatform,
  writeMultiPlatformLayout,
  zstdOciArchive,
} from '../helpers/modern-images.ts';

// The fixtures are only worth something if the real skopeo reads them as the builders say.

const digestOf = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
/** skopeo prints what it read; digests are over the exact bytes, so strip nothing. */
const raw = (ref: string, ...global: string[]): Promise<string> => skopeo([...global, 'inspect', '--raw', ref]);
const config = (ref: string, ...global: string[]): Promise<string> => skopeo([...global, 'inspect', '--config', '--raw', ref]);
const arch = (a: string) => ['--override-os', 'linux', '--override-arch', a];

describe('multi-platform fixtures', () => {
  it('writeMultiPlatformLayout: an index tagged by ref name, one config and layer set per platform, an optional shared base', async (t) => {
    const dir = await tempDir(t);
    const image = await writeMultiPlatformLayout(dir, { tag: 'v1', sharedBase: true });
    assert.equal(digestOf(await raw(`oci:${dir}:v1`)), image.index);
    const index = JSON.parse(await raw(`oci:${dir}:v1`));
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(
      index.manifests.map((m: any) => [m.digest, m.size, m.platform.architecture]),
      image.images.map((i) => [i.manifest, i.manifestSize, i.platform.architecture]),
    );
    assert.deepEqual(image.images.map((i) => i.platform), [AMD64, ARM64]);
    for (const child of image.images) {
      const text = await config(`oci:${dir}:v1`, ...arch(child.platform.architecture));
      assert.equal(digestOf(text), child.config);
      const parsed = JSON.parse(text);
      assert.equal(parsed.architecture, child.platform.architecture);
      assert.equal(parsed.os, 'linux');
      assert.deepEqual(parsed.rootfs.diff_ids, child.diffIds);
      assert.equal(child.layerDigests.length, 2);
    }
    const [amd, arm] = image.images;
    assert.equal(amd!.diffIds[0], image.sharedBase!.diffId, 'the shared base is first in both');
    assert.equal(arm!.layerDigests[0], amd!.layerDigests[0]);
    assert.notEqual(arm!.layerDigests[1], amd!.layerDigests[1]);
  });

  it('multiPlatformOciArchive: skopeo copy --all keeps the index and its children byte for byte', async (t) => {
    const dir = await tempDir(t);
    const { file, image } = await multiPlatformOciArchive(dir);
    assert.equal(digestOf(await raw(`oci-archive:${file}:latest`)), image.index);
    assert.equal(digestOf(await config(`oci-archive:${file}:latest`, ...arch('arm64'))), image.images[1]!.config);
    const listing = (await execa('tar', ['tf', file])).stdout.split('\n');
    for (const child of image.images) {
      for (const digest of [child.manifest, child.config, ...child.layerDigests]) assert.ok(listing.includes(`blobs/${digest.replace(':', '/')}`), digest);
    }
  });

  it('multiPlatformDockerArchive: skopeo keeps one platform (the one asked for); copy --all to docker-archive is refused', async (t) => {
    const dir = await tempDir(t);
    const { file, chosen } = await multiPlatformDockerArchive(dir, { platform: ARM64 });
    assert.equal(chosen.platform, ARM64);
    const manifest = JSON.parse(await raw(`docker-archive:${file}`));
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(manifest.config.digest, chosen.config, 'skopeo keeps the config bytes');
    const layout = await tempDir(t);
    const image = await writeMultiPlatformLayout(layout);
    await assert.rejects(
      skopeo(['copy', '--all', `oci:${layout}:latest`, `docker-archive:${path.join(dir, 'all.tar')}:acme/app:latest`]),
      /does not support copying multiple images as a group/,
    );
    assert.equal(image.images.length, 2);
  });

  it('writeDockerSaveMultiPlatform: skopeo reads manifest.json (the host image) and the OCI index beside it', async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'save.tar');
    const image = await writeDockerSaveMultiPlatform(file, { name: 'acme/app', host: ARM64 });
    assert.equal(digestOf(await raw(`oci-archive:${file}:latest`)), image.index);
    const manifest = JSON.parse(await raw(`docker-archive:${file}`));
    assert.equal(manifest.config.digest, image.images[1]!.config, 'manifest.json describes the host platform');
    // skopeo 1.9.3 decompresses such a layer and reports its diff_id and uncompressed size.
    assert.equal(manifest.layers[0].digest, image.images[1]!.diffIds[0]);
    const listed = JSON.parse((await execa('tar', ['xOf', file, 'manifest.json'])).stdout);
    assert.deepEqual(listed, [
      {
        Config: `blobs/${image.images[1]!.config.replace(':', '/')}`,
        RepoTags: ['acme/app:latest'],
        Layers: [`blobs/${image.images[1]!.layerDigests[0]!.replace(':', '/')}`],
      },
    ], 'manifest.json lists the gzip blobs as they are stored');
  });

  it('writeDockerSaveMultiPlatform: platforms not present keep their index entry and lose their blobs', async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'save.tar');
    const image = await writeDockerSaveMultiPlatform(file, { present: [AMD64] });
    const listing = (await execa('tar', ['tf', file])).stdout.split('\n');
    const [amd, arm] = image.images;
    assert.ok(listing.includes(`blobs/${amd!.manifest.replace(':', '/')}`));
    assert.ok(!listing.includes(`blobs/${arm!.manifest.replace(':', '/')}`));
    assert.equal(JSON.parse(await raw(`oci-archive:${file}:latest`)).manifests.length, 2, 'the index still names both');
    await assert.rejects(skopeo(['copy', '--all', `oci-archive:${file}:latest`, `dir:${path.join(dir, 'out')}`]), /no such file/);
  });
});

describe('zstd fixtures', () => {
  for (const via of ['skopeo', 'node'] as const) {
    it(`zstdOciArchive via ${via}: tar+zstd layers whose diff_ids are the uncompressed tars`, async (t) => {
      const dir = await tempDir(t);
      const { file, image } = await zstdOciArchive(dir, { via, tag: 'z' });
      const text = await raw(`oci-archive:${file}:z`);
      assert.equal(digestOf(text), image.manifest);
      const manifest = JSON.parse(text);
      assert.deepEqual(manifest.layers.map((l: any) => [l.mediaType, l.digest]), [['application/vnd.oci.image.layer.v1.tar+zstd', image.layerDigests[0]]]);
      const blob = (await execa('tar', ['xOf', file, `blobs/${image.layerDigests[0]!.replace(':', '/')}`], { encoding: 'buffer' })).stdout;
      assert.equal(Buffer.from(blob.subarray(0, 4)).toString('hex'), '28b52ffd', 'a zstd frame');
      assert.deepEqual(JSON.parse(await config(`oci-archive:${file}:z`)).rootfs.diff_ids, image.diffIds);
      // skopeo decompresses the layers (--dest-decompress works for dir: only): the bytes are real zstd of the layer tars.
      const plain = path.join(dir, 'plain');
      await skopeo(['copy', '--quiet', '--dest-decompress', `oci-archive:${file}:z`, `dir:${plain}`]);
      assert.deepEqual(JSON.parse(await raw(`dir:${plain}`)).layers.map((l: any) => l.digest), image.diffIds);
      // Docker's schema 2 has no zstd media type: skopeo 1.9.3 will not write one to a docker-archive.
      await assert.rejects(
        skopeo(['copy', '--quiet', `oci-archive:${file}:z`, `docker-archive:${path.join(dir, 'docker.tar')}:acme/app:z`]),
        /zstd compression is not supported for docker images/,
      );
    });
  }
});
