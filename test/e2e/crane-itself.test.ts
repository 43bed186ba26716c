import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { makeExample } from '../helpers/archives.ts';
import { ctrFetch } from '../helpers/containerd.ts';
import { craneUnavailable, startCrane, type RunningCrane } from '../helpers/crane.ts';
import { git, tempDir } from '../helpers/git.ts';
import { editConfig } from '../helpers/registry.ts';
import { attachedOciArchive, cosignTag, multiPlatformOciArchive, OCI_INDEX, OCI_MANIFEST, zstdOciArchive } from '../helpers/modern-images.ts';
import { skopeo } from '../helpers/serve.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * What raas's Crane layouts publish, served by Crane 3.3.1 itself (test/helpers/crane.ts),
 * with the layers in a real S3-compatible bucket (s3rver) that Crane redirects to: a
 * two-platform index through the version 4 redirect file, a zstd image, cosign tags and an
 * OCI 1.1 referrer by digest, and a Pulp export's built manifest through version 3.
 */

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

async function push(world: World, image: string, file: string): Promise<Record<string, any>> {
  const run = await world.raas(['push', 'acme', image, '--file', file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, any>;
}

/** skopeo's copy of `ref` into a directory: the manifest's bytes, and a blob's by digest. */
async function pull(t: Parameters<typeof tempDir>[0], crane: RunningCrane, ref: string, extra: string[] = []) {
  const dir = await tempDir(t, 'raas-pulled-');
  await skopeo(...extra, 'copy', '--quiet', '--src-tls-verify=false', `docker://${crane.host}/${ref}`, `dir:${dir}`).catch((error: Error) => {
    throw new Error(`${error.message}\nCrane's log:\n${crane.log().slice(-3000)}`);
  });
  const manifest = await readFile(path.join(dir, 'manifest.json'));
  return { manifest, parsed: JSON.parse(manifest.toString()) as { mediaType?: string; config: { digest: string }; layers: { digest: string; mediaType: string }[] }, blob: (digest: string) => readFile(path.join(dir, digest.slice('sha256:'.length))) };
}

test('Crane 3.3.1 itself serves what raas published: a two-platform index (version 4), zstd layers, cosign tags and referrers, a Pulp export (version 3)', async (t) => {
  const unavailable = await craneUnavailable();
  if (unavailable) return t.skip(`Crane not run: ${unavailable}`);
  const world = await makeWorld(t, { storage: 's3' });
  const dir = await tempDir(t);
  const multi = await multiPlatformOciArchive(dir, { tag: '1.0' });
  const zstd = await zstdOciArchive(dir, { tag: '1.0' });
  const signed = await attachedOciArchive(dir, { tag: '1.0' });
  const pulp = await makeExample({ dir, format: 'pulp', name: 'acme/legacy', tag: '2.0', gzip: true });
  await push(world, 'acme/multi', multi.file);
  await push(world, 'acme/zstd', zstd.file);
  await push(world, 'acme/signed', signed.file);
  const legacy = await push(world, 'acme/legacy', pulp.file);

  const app = path.join(await tempDir(t), 'app');
  await git(path.dirname(app), 'clone', '-q', world.craneRemote, app);
  const crane = await startCrane(t, path.join(app, 'crane/data'));

  // The index, by tag, to a client that accepts lists; then each platform's own manifest and config.
  const raw = Buffer.from((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${crane.host}/acme/multi:1.0`)).stdout);
  assert.equal(sha256(raw), multi.image.index);
  assert.equal(JSON.parse(raw.toString()).mediaType, OCI_INDEX);
  for (const platform of multi.image.images) {
    const got = await pull(t, crane, 'acme/multi:1.0', ['--override-arch', platform.platform.architecture, '--override-os', platform.platform.os]);
    assert.equal(sha256(got.manifest), platform.manifest, platform.platform.architecture);
    assert.equal(got.parsed.mediaType, OCI_MANIFEST);
    assert.deepEqual(got.parsed.layers.map((l) => l.digest), platform.layerDigests);
    const config = JSON.parse((await got.blob(got.parsed.config.digest)).toString()) as { architecture: string; rootfs: { diff_ids: string[] } };
    assert.deepEqual([config.architecture, config.rootfs.diff_ids], [platform.platform.architecture, platform.diffIds]);
  }
  // manifest_list_amd64_tags: a client that takes schema 2 but no list gets the amd64 image.
  const single = await fetch(`${crane.url}/v2/acme/multi/manifests/1.0`, { headers: { Accept: DOCKER_MANIFEST } });
  assert.equal(single.status, 200);
  assert.equal(sha256(Buffer.from(await single.arrayBuffer())), multi.image.images[0]!.manifest);
  assert.equal(single.headers.get('content-type'), OCI_MANIFEST, 'the bucket answers with the type raas stored');
  // The index by its digest, too (manifest_list_data names it).
  const byDigest = await fetch(`${crane.url}/v2/acme/multi/manifests/${multi.image.index}`, { headers: { Accept: `${DOCKER_LIST},${OCI_INDEX}` } });
  assert.equal(sha256(Buffer.from(await byDigest.arrayBuffer())), multi.image.index);

  // A zstd layer, byte for byte.
  const z = await pull(t, crane, 'acme/zstd:1.0');
  assert.equal(sha256(z.manifest), zstd.image.manifest);
  const layer = z.parsed.layers[0]!;
  assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
  assert.equal(sha256(await z.blob(layer.digest)), layer.digest);

  // A cosign signature by its tag; the OCI 1.1 referrer by its digest (Crane has no referrers API).
  const sig = Buffer.from((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${crane.host}/acme/signed:${cosignTag(signed.image.subject.digest, 'sig')}`)).stdout);
  assert.equal(sha256(sig), signed.image.signature.manifest);
  const referrer = await fetch(`${crane.url}/v2/acme/signed/manifests/${signed.image.referrer.manifest}`, { headers: { Accept: `${OCI_MANIFEST},${DOCKER_MANIFEST}` } });
  assert.equal(sha256(Buffer.from(await referrer.arrayBuffer())), signed.image.referrer.manifest);

  // A Pulp export: Docker schema 2 built from its v1 images, through a version 3 file.
  const deployed = JSON.parse(await git(app, 'show', 'HEAD:crane/data/acme-acme-legacy@v2.json')) as { version: number };
  assert.equal(deployed.version, 3);
  const old = await pull(t, crane, 'acme/legacy:2.0');
  assert.equal(sha256(old.manifest), legacy.v2.manifests['2.0']);
  assert.equal(old.parsed.mediaType, DOCKER_MANIFEST);
  const diffIds = (JSON.parse((await old.blob(old.parsed.config.digest)).toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
  assert.deepEqual(diffIds, pulp.layers.map((l) => l.diffId));

  // containerd, through Crane's redirects: one platform of the index.
  const fetched = await ctrFetch(t, `${crane.host}/acme/multi:1.0`, 'linux/arm64');
  if (fetched !== undefined) {
    const arm64 = multi.image.images[1]!;
    for (const digest of [multi.image.index, arm64.manifest, arm64.config, ...arm64.layerDigests]) assert.match(fetched, new RegExp(digest));
  }

  // raas status, with Crane as the registry: every tag of every image resolves.
  await editConfig(world, (text) => text.replace(/^registry_url = .*$/m, `registry_url = ${crane.url}`));
  const checked = await world.raas(['status', 'acme', '--json', '--no-commit']);
  const failed = (JSON.parse(checked.stdout) as { checks: { outcome: string }[] }).checks.filter((c) => c.outcome !== 'ok');
  assert.equal(checked.code, 0, JSON.stringify(failed));
  // The copy containerd is sent to gone: status names it.
  const copy = `acme-multi/v2/manifests/1/${multi.image.images[1]!.manifest}`;
  await world.s3!.client.send(new DeleteObjectCommand({ Bucket: world.bucket, Key: copy }));
  const broken = await world.raas(['status', 'acme', 'acme/multi', '--no-commit']);
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, new RegExp(`has no copy at ${copy.replace(/[/.]/g, '\\$&')}, where Crane sends containerd`));
});
