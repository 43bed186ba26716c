import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { containerdUnavailable, startContainerd } from '../helpers/containerd.ts';
import { startStockRegistry } from '../helpers/docker-registry.ts';
import { tempDir } from '../helpers/git.ts';
import { startRecordingProxy } from '../helpers/recording-proxy.ts';
import {
  AMD64,
  ARM64,
  attachedOciArchive,
  COSIGN_SIGNATURE_ANNOTATION,
  COSIGN_SIMPLESIGNING,
  EMPTY_JSON,
  multiPlatformDockerArchive,
  multiPlatformOciArchive,
  skopeo,
  writeDockerSaveMultiPlatform,
  writeAttachedLayout,
  writeMultiPlatformLayout,
  zstdOciArchive,
} from '../helpers/modern-images.ts';

// The fixtures are only worth something if the real skopeo reads them as the builders say.

const digestOf = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
/** What skopeo read, byte for byte (digests are over the exact bytes). */
const raw = (ref: string, ...global: string[]): Promise<string> => skopeo([...global, 'inspect', '--raw', ref]);
const config = (ref: string, ...global: string[]): Promise<string> => skopeo([...global, 'inspect', '--config', '--raw', ref]);
/** A blob of an archive holding an OCI layout, as text. */
const blob = async (file: string, digest: string): Promise<string> => (await execa('tar', ['xOf', file, `blobs/${digest.replace(':', '/')}`], { stripFinalNewline: false })).stdout;
/** A monolithic blob upload (POST then PUT ?digest=), the registry API's simplest. */
async function pushBlob(registry: string, name: string, digest: string, data: Buffer): Promise<void> {
  const start = await fetch(`${registry}v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202, await start.text());
  const location = new URL(start.headers.get('location')!, registry);
  location.searchParams.set('digest', digest);
  const done = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: data });
  assert.equal(done.status, 201, await done.text());
}
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

  for (const [compression, layerType] of [
    ['zstd', 'application/vnd.oci.image.layer.v1.tar+zstd'],
    ['none', 'application/vnd.oci.image.layer.v1.tar'],
  ] as const) {
    it(`multiPlatformOciArchive with ${compression} layers: skopeo copy --all keeps them too`, async (t) => {
      const dir = await tempDir(t);
      const { file, image } = await multiPlatformOciArchive(dir, { compression, sharedBase: true });
      assert.equal(digestOf(await raw(`oci-archive:${file}:latest`)), image.index);
      const text = await blob(file, image.images[1]!.manifest);
      assert.equal(digestOf(text), image.images[1]!.manifest);
      assert.deepEqual(JSON.parse(text).layers.map((l: any) => l.mediaType), [layerType, layerType]);
    });
  }

  it('multiPlatformOciArchive with Docker media types: a manifest list of schema 2 manifests, which skopeo 1.9.3 cannot find in index.json', async (t) => {
    const dir = await tempDir(t);
    const { file, image } = await multiPlatformOciArchive(dir, { mediaTypes: 'docker' });
    assert.equal(image.indexMediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    const index = JSON.parse((await execa('tar', ['xOf', file, 'index.json'])).stdout);
    assert.equal(index.manifests[0].mediaType, image.indexMediaType);
    const list = JSON.parse(await blob(file, image.index));
    assert.equal(list.mediaType, image.indexMediaType);
    assert.deepEqual(list.manifests.map((m: any) => m.mediaType), ['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.v2+json']);
    const child = JSON.parse(await blob(file, image.images[0]!.manifest));
    assert.equal(child.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.equal(child.layers[0].mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    await assert.rejects(raw(`oci-archive:${file}:latest`), /no descriptor found for reference/);
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
    const image = await writeDockerSaveMultiPlatform(file, { name: 'acme/app', host: ARM64, pulledFrom: 'docker.io' });
    assert.equal(digestOf(await raw(`oci-archive:${file}:latest`)), image.index);
    const index = JSON.parse((await execa('tar', ['xOf', file, 'index.json'])).stdout);
    assert.deepEqual(index.manifests, [
      {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: image.index,
        size: image.indexSize,
        annotations: {
          'containerd.io/distribution.source.docker.io': 'acme/app',
          'io.containerd.image.name': 'docker.io/acme/app:latest',
          'org.opencontainers.image.ref.name': 'latest',
        },
      },
    ]);
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
      const layer = (await execa('tar', ['xOf', file, `blobs/${image.layerDigests[0]!.replace(':', '/')}`], { encoding: 'buffer' })).stdout;
      assert.equal(Buffer.from(layer.subarray(0, 4)).toString('hex'), '28b52ffd', 'a zstd frame');
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

describe('attached artifact fixtures', () => {
  it('attachedOciArchive: the image, cosign .sig/.att tags and an untagged OCI 1.1 referrer in one index.json', async (t) => {
    const dir = await tempDir(t);
    const { file, image } = await attachedOciArchive(dir);
    const hex = image.subject.digest.slice('sha256:'.length);
    assert.equal(image.signature.tag, `sha256-${hex}.sig`);
    assert.equal(image.attestation.tag, `sha256-${hex}.att`);
    assert.equal(digestOf(await raw(`oci-archive:${file}:latest`)), image.subject.digest);
    const signature = JSON.parse(await raw(`oci-archive:${file}:${image.signature.tag}`));
    assert.equal(digestOf(JSON.stringify(signature)), image.signature.manifest);
    assert.equal(signature.layers[0].mediaType, COSIGN_SIMPLESIGNING);
    assert.match(signature.layers[0].annotations[COSIGN_SIGNATURE_ANNOTATION], /^[A-Za-z0-9+/]+=*$/);
    const payload = JSON.parse(await blob(file, image.signature.layer));
    assert.equal(payload.critical.image['docker-manifest-digest'], image.subject.digest);
    const attestation = JSON.parse(await raw(`oci-archive:${file}:${image.attestation.tag}`));
    assert.equal(attestation.layers[0].mediaType, 'application/vnd.dsse.envelope.v1+json');

    const index = JSON.parse((await execa('tar', ['xOf', file, 'index.json'])).stdout);
    const entry = index.manifests.find((m: any) => m.digest === image.referrer.manifest);
    assert.equal(entry.annotations, undefined, 'the referrer has no ref name, as oras writes it');
    assert.equal(entry.artifactType, image.referrer.artifactType);
    const referrer = JSON.parse(await blob(file, image.referrer.manifest));
    assert.deepEqual(referrer.subject, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.subject.digest, size: image.subject.size });
    assert.equal(referrer.config.mediaType, 'application/vnd.oci.empty.v1+json');
    assert.equal(referrer.config.digest, digestOf(EMPTY_JSON.toString()));
    // skopeo 1.9.3 names layout entries by tag only: an untagged one cannot be copied out.
    await assert.rejects(raw(`oci-archive:${file}`), /more than one image in oci, choose an image/);
    await assert.rejects(raw(`oci-archive:${file}:@${image.referrer.manifest}`), /Invalid image @sha256/);
  });
});

describe('attached artifact fixtures on an index', () => {
  it('writeAttachedLayout with multiPlatform: the signature and the referrer name the index; skopeo pushes index and .sig to docker-registry', async (t) => {
    const dir = await tempDir(t);
    const layout = path.join(dir, 'layout');
    const image = await writeAttachedLayout(layout, { multiPlatform: { sharedBase: true } });
    assert.equal(image.subject.digest, image.index!.index);
    assert.equal(image.subject.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(image.signature.tag, `sha256-${image.index!.index.slice('sha256:'.length)}.sig`);
    assert.equal(digestOf(await raw(`oci:${layout}:latest`)), image.index!.index);
    const payload = JSON.parse(await readFile(path.join(layout, 'blobs', image.signature.layer.replace(':', '/')), 'utf8'));
    assert.equal(payload.critical.image['docker-manifest-digest'], image.index!.index);
    const referrer = JSON.parse(await readFile(path.join(layout, 'blobs', image.referrer.manifest.replace(':', '/')), 'utf8'));
    assert.deepEqual(referrer.subject, image.subject);

    const registry = await startStockRegistry(t, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/registry\nhttp:\n  addr: 127.0.0.1:5000\n`);
    await skopeo(['copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${registry.host}/acme/app:latest`]);
    await skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${image.signature.tag}`, `docker://${registry.host}/acme/app:${image.signature.tag}`]);
    assert.equal(digestOf(await raw(`docker://${registry.host}/acme/app:latest`, '--tls-verify=false')), image.index!.index);
    assert.equal(digestOf(await raw(`docker://${registry.host}/acme/app:${image.signature.tag}`, '--tls-verify=false')), image.signature.manifest);
  });
});

describe('docker-registry 2.8 and these images', () => {
  it('holds an OCI index and an OCI 1.1 artifact byte for byte, serves them only to clients that accept OCI types, and has no referrers API', async (t) => {
    const dir = await tempDir(t);
    const registry = await startStockRegistry(t, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/registry\nhttp:\n  addr: 127.0.0.1:5000\n`);
    const proxy = await startRecordingProxy(t, registry.url.replace(/\/$/, ''));
    const multi = await multiPlatformOciArchive(dir);
    await skopeo(['copy', '--quiet', '--all', '--dest-tls-verify=false', `oci-archive:${multi.file}:latest`, `docker://${proxy.host}/acme/multi:latest`]);
    const { file, image } = await attachedOciArchive(dir, { referrerTag: 'sbom' });
    for (const tag of ['latest', image.signature.tag!, image.attestation.tag!, 'sbom']) {
      await skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${file}:${tag}`, `docker://${proxy.host}/acme/app:${tag}`]);
    }
    const pushed = proxy.requests.length;

    // How 2.8 stores an index: the tag links to the index; the index and each child get a
    // revision link; configs and layers (not manifests) get _layers links.
    const repo = path.join(dir, 'registry/docker/registry/v2/repositories/acme/multi');
    const hex = (d: string) => d.slice('sha256:'.length);
    assert.equal(await readFile(path.join(repo, '_manifests/tags/latest/current/link'), 'utf8'), multi.image.index);
    assert.deepEqual(await readdir(path.join(repo, '_manifests/tags/latest/index/sha256')), [hex(multi.image.index)]);
    const children = multi.image.images;
    assert.deepEqual((await readdir(path.join(repo, '_manifests/revisions/sha256'))).sort(), [multi.image.index, ...children.map((i) => i.manifest)].map(hex).sort());
    assert.deepEqual((await readdir(path.join(repo, '_layers/sha256'))).sort(), [...new Set(children.flatMap((i) => [i.config, ...i.layerDigests]))].map(hex).sort());

    assert.equal(digestOf(await raw(`docker://${proxy.host}/acme/multi:latest`, '--tls-verify=false')), multi.image.index);
    const [get] = proxy.requests.slice(pushed).filter((r) => r.path === '/v2/acme/multi/manifests/latest');
    assert.equal(get!.contentType, 'application/vnd.oci.image.index.v1+json');
    // skopeo sends each type on its own Accept line; containerd sends one comma-separated line.
    assert.deepEqual(get!.accept, [
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
      'application/vnd.docker.distribution.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.oci.image.index.v1+json',
    ]);
    const arm = path.join(dir, 'arm');
    await skopeo(['--override-arch', 'arm64', 'copy', '--quiet', '--src-tls-verify=false', `docker://${proxy.host}/acme/multi:latest`, `oci:${arm}:x`]);
    assert.equal(digestOf(await raw(`oci:${arm}:x`)), multi.image.images[1]!.manifest, '--override-arch arm64 takes the arm64 child');

    assert.equal(digestOf(await raw(`docker://${registry.host}/acme/app:${image.signature.tag}`, '--tls-verify=false')), image.signature.manifest);
    assert.equal(digestOf(await raw(`docker://${registry.host}/acme/app:sbom`, '--tls-verify=false')), image.referrer.manifest, 'subject and artifactType kept');

    const plain = await fetch(`${registry.url}v2/acme/multi/manifests/latest`);
    assert.equal(plain.status, 404);
    assert.match(await plain.text(), /OCI index found, but accept header does not support OCI indexes/);
    const manifest = await fetch(`${registry.url}v2/acme/app/manifests/sbom`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(manifest.status, 404);
    assert.match(await manifest.text(), /OCI manifest found, but accept header does not support OCI manifests/);

    // An untagged referrer, pushed by digest as oras pushes one: accepted, linked as a revision only.
    const untagged = await attachedOciArchive(dir);
    await skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${untagged.file}:latest`, `docker://${registry.host}/acme/other:latest`]);
    const referrer = untagged.image.referrer;
    for (const digest of [referrer.config, referrer.layer]) await pushBlob(registry.url, 'acme/other', digest, Buffer.from(await blob(untagged.file, digest)));
    const put = await fetch(`${registry.url}v2/acme/other/manifests/${referrer.manifest}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: await blob(untagged.file, referrer.manifest),
    });
    assert.equal(put.status, 201, await put.text());
    assert.equal(digestOf(await raw(`docker://${registry.host}/acme/other@${referrer.manifest}`, '--tls-verify=false')), referrer.manifest);
    const tags = (await (await fetch(`${registry.url}v2/acme/other/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['latest'], 'not a tag');

    const referrers = await fetch(`${registry.url}v2/acme/app/referrers/${image.subject.digest}`);
    assert.equal(referrers.status, 404, 'Distribution 2.8 has no referrers API');
    assert.equal(await referrers.text(), '404 page not found\n', 'an unknown route, not an OCI error');
  });

  it('containerd 1.6 (ctr content fetch, plain HTTP) resolves a tag with HEAD, then GETs by digest, one Accept line per request', async (t) => {
    const unavailable = await containerdUnavailable();
    if (unavailable) return t.skip(unavailable);
    const dir = await tempDir(t);
    const registry = await startStockRegistry(t, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/registry\nhttp:\n  addr: 127.0.0.1:5000\n`);
    const { file, image } = await multiPlatformOciArchive(dir);
    await skopeo(['copy', '--quiet', '--all', '--dest-tls-verify=false', `oci-archive:${file}:latest`, `docker://${registry.host}/acme/multi:latest`]);
    const proxy = await startRecordingProxy(t, registry.url.replace(/\/$/, ''));
    const containerd = await startContainerd(t);
    await containerd.ctr(['content', 'fetch', '--plain-http', '--platform', 'linux/arm64', `${proxy.host}/acme/multi:latest`]);
    const arm = image.images[1]!;
    assert.deepEqual(
      proxy.requests.filter((r) => r.path.includes('/manifests/')).map((r) => [r.method, r.path.split('/manifests/')[1], r.accept]),
      [
        ['HEAD', 'latest', ['application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*']],
        ['GET', image.index, ['application/vnd.oci.image.index.v1+json, */*']],
        ['GET', arm.manifest, ['application/vnd.oci.image.manifest.v1+json, */*']],
      ],
    );
    const blobs = proxy.requests.filter((r) => r.path.includes('/blobs/')).map((r) => r.path.split('/blobs/')[1]);
    assert.deepEqual(new Set(blobs), new Set([arm.config, ...arm.layerDigests]), 'only the platform asked for');
    assert.match(await containerd.ctr(['content', 'ls', '-q']), new RegExp(arm.manifest));
  });
});
