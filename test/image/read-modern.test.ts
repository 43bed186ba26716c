import assert from 'node:assert/strict';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { readArchive } from '../../src/image/read.ts';
import { imagesOf } from '../../src/image/model.ts';
import { createLogger } from '../../src/log.ts';
import { ociEntries, ociFiles, randomLayer, writeTar } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';
import { AMD64, attachedOciArchive, multiPlatformOciArchive, writeDockerSaveMultiPlatform } from '../helpers/modern-images.ts';

/** A logger whose warnings the test reads. */
function recording(): { logger: ReturnType<typeof createLogger>; lines: () => string } {
  const terminal = new PassThrough();
  let text = '';
  terminal.on('data', (d: Buffer) => (text += d.toString()));
  return { logger: createLogger({ level: 'warn', terminal }), lines: () => text };
}

describe('the archive\'s own manifests (the manifest-first view)', () => {
  it('an oci-archive of a two-platform index keeps the index and both manifests byte for byte; the v1 view is the amd64 image', async (t) => {
    const dir = await tempDir(t);
    const { file, image } = await multiPlatformOciArchive(dir, { tag: '1.0', sharedBase: true });
    const repo = await readArchive(file, { workDir: await tempDir(t) });
    const index = repo.manifests?.get('1.0');
    assert.equal(index?.kind, 'index');
    assert.equal(index.digest, image.index);
    assert.deepEqual(imagesOf(index).map((m) => [m.digest, m.platform?.architecture]), image.images.map((i) => [i.manifest, i.platform.architecture]));
    assert.deepEqual(imagesOf(index)[1]!.layers.map((l) => l.layerDigest), image.images[1]!.layerDigests);
    const amd64 = image.images[0]!;
    const top = repo.images.find((i) => i.id === repo.tags.get('1.0'))!;
    assert.equal(top.config?.digest, amd64.config, 'the v1 view is the linux/amd64 image');
  });

  it('a Docker manifest list of schema 2 manifests stays Docker: its media types and digests as archived', async (t) => {
    const { file, image } = await multiPlatformOciArchive(await tempDir(t), { tag: '1.0', mediaTypes: 'docker' });
    const repo = await readArchive(file, { workDir: await tempDir(t) });
    const list = repo.manifests?.get('1.0');
    assert.deepEqual([list?.kind, list?.mediaType, list?.digest], ['index', 'application/vnd.docker.distribution.manifest.list.v2+json', image.index]);
    assert.deepEqual(imagesOf(list!).map((m) => [m.mediaType, m.digest]), image.images.map((i) => ['application/vnd.docker.distribution.manifest.v2+json', i.manifest]));
  });

  it('a docker 25+ save of a multi-platform image is read through its OCI layout, whole', async (t) => {
    const file = path.join(await tempDir(t), 'save.tar');
    const image = await writeDockerSaveMultiPlatform(file, { tag: '1.0' });
    const repo = await readArchive(file, { workDir: await tempDir(t) });
    assert.equal(repo.format, 'docker-archive');
    assert.equal(repo.archiveName, 'acme/app');
    assert.equal(repo.manifests?.get('1.0')?.digest, image.index);
  });

  it('a docker 25+ save of one platform of an index (content missing) publishes manifest.json\'s image, and says why', async (t) => {
    const file = path.join(await tempDir(t), 'save.tar');
    await writeDockerSaveMultiPlatform(file, { tag: '1.0', present: [AMD64] });
    const { logger, lines } = recording();
    const repo = await readArchive(file, { workDir: await tempDir(t), logger });
    assert.equal(repo.manifests, undefined);
    assert.deepEqual([...repo.tags.keys()], ['1.0']);
    assert.match(lines(), /its OCI layout \(index.json\) cannot be published whole \(.*is not in the archive.*\); publishing the image manifest.json describes/);
  });

  it('cosign tags and an untagged referrer: tags without a v1 view, and the referrer by its subject', async (t) => {
    const { file, image } = await attachedOciArchive(await tempDir(t), { tag: '1.0' });
    const repo = await readArchive(file, { workDir: await tempDir(t) });
    assert.deepEqual([...repo.tags.keys()], ['1.0'], 'only the image has a v1 view');
    assert.equal(repo.manifests?.get(`${image.subject.digest.replace(':', '-')}.sig`)?.digest, image.signature.manifest);
    assert.deepEqual(repo.referrers?.map((r) => [r.digest, r.subject]), [[image.referrer.manifest, image.subject.digest]]);
  });
});

describe('a manifest\'s media type becomes a Content-Type in storage: only the types raas publishes, as the descriptor says', () => {
  for (const [name, mediaType, expect] of [
    ['a type no registry serves', 'text/html', /"mediaType" "text\/html" is not a manifest type raas publishes/],
    ['another manifest type than its descriptor\'s', 'application/vnd.docker.distribution.manifest.v2+json', /"mediaType" is "application\/vnd\.docker\.distribution\.manifest\.v2\+json", but the descriptor naming it says "application\/vnd\.oci\.image\.manifest\.v1\+json"/],
  ] as const) {
    it(`refuses ${name}`, async (t) => {
      const { files } = ociFiles({ layers: [randomLayer()], tag: '1.0', editManifest: (m) => { m['mediaType'] = mediaType; } });
      const file = await writeTar(path.join(await tempDir(t), 'bad.tar'), ociEntries(files));
      await assert.rejects(readArchive(file, { workDir: await tempDir(t) }), (error: Error) => {
        assert.match(error.message, expect);
        return true;
      });
    });
  }
});
