import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ctrFetch } from '../helpers/containerd.ts';
import { startStockRegistry, type StockRegistry } from '../helpers/docker-registry.ts';
import { git, tempDir } from '../helpers/git.ts';
import { ARM64, attachedOciArchive, cosignTag, multiPlatformOciArchive, OCI_INDEX, OCI_MANIFEST, writeDockerSaveMultiPlatform, zstdOciArchive, type MultiPlatformImage } from '../helpers/modern-images.ts';
import { editConfig } from '../helpers/registry.ts';
import { freePort, skopeo, startServe } from '../helpers/serve.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * Images as they are built today, published whole: a two-platform OCI index (every
 * platform's manifest, config and layers, and the index with its digest), OCI manifests
 * unconverted, and what signing tools attach to an image. Checked through a stock
 * registry (layout = distribution) and through raas serve (Crane's v2 layout with a
 * version 4 redirect file), by skopeo.
 */

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

async function push(world: World, image: string, file: string): Promise<Record<string, any>> {
  const run = await world.raas(['push', 'acme', image, '--file', file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, any>;
}

async function status(world: World): Promise<{ code: number; failed: unknown[] }> {
  const run = await world.raas(['status', 'acme', '--json', '--no-commit']);
  const report = JSON.parse(run.stdout) as { checks: { outcome: string }[] };
  return { code: run.code, failed: report.checks.filter((c) => c.outcome !== 'ok') };
}

/** Set a key of [acme] in raas.cfg and commit it. */
async function setIsvKey(world: World, line: string): Promise<void> {
  const cfg = path.join(world.configDir, 'raas.cfg');
  await git(world.configDir, 'pull', '-q');
  await writeFile(cfg, (await readFile(cfg, 'utf8')).replace(/^\[acme\]\n/m, `[acme]\n${line}\n`));
  await git(world.configDir, 'commit', '-qam', line);
  await git(world.configDir, 'push', '-q');
}

/**
 * What skopeo sees of the index through `host`: `inspect --raw` gives the index's bytes, and
 * a copy of each platform (`--override-arch`) gets that platform's manifest, layers and config.
 */
async function checkIndex(t: TestContext, host: string, name: string, image: MultiPlatformImage): Promise<void> {
  const raw = Buffer.from((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/${name}:${image.tag}`)).stdout);
  assert.equal(sha256(raw), image.index, 'the index served by tag is the archive\'s');
  assert.equal(JSON.parse(raw.toString()).mediaType, OCI_INDEX);
  for (const platform of image.images) {
    const dir = await tempDir(t, 'raas-pulled-');
    await skopeo('--override-arch', platform.platform.architecture, '--override-os', platform.platform.os, 'copy', '--quiet', '--src-tls-verify=false', `docker://${host}/${name}:${image.tag}`, `dir:${dir}`);
    const manifest = await readFile(path.join(dir, 'manifest.json'));
    assert.equal(sha256(manifest), platform.manifest, `${platform.platform.architecture}: the platform's own manifest`);
    const parsed = JSON.parse(manifest.toString()) as { mediaType: string; config: { digest: string }; layers: { digest: string }[] };
    assert.equal(parsed.mediaType, OCI_MANIFEST, 'OCI stays OCI');
    assert.deepEqual(parsed.layers.map((l) => l.digest), platform.layerDigests);
    const config = JSON.parse((await readFile(path.join(dir, parsed.config.digest.slice('sha256:'.length)))).toString()) as { architecture: string; rootfs: { diff_ids: string[] } };
    assert.equal(config.architecture, platform.platform.architecture);
    assert.deepEqual(config.rootfs.diff_ids, platform.diffIds);
  }
}

test('a two-platform OCI index through a stock registry (layout = distribution): the index and each platform\'s manifest, layers and config, by tag; status checks every child', async (t) => {
  const world = await makeWorld(t, { storage: 'file', platform: 'none' });
  const { file, image } = await multiPlatformOciArchive(await tempDir(t), { tag: '1.0', sharedBase: true });
  const report = await push(world, 'acme/multi', file);
  assert.equal(report.distribution.manifests['1.0'], image.index, 'the tag names the index, by the archive\'s digest');

  const config = await world.raas(['registry-config', 'acme', '--listen', '127.0.0.1:5000']);
  assert.equal(config.code, 0, config.stderr);
  const registry: StockRegistry = await startStockRegistry(t, config.stdout);
  await checkIndex(t, registry.host, 'acme/multi', image).catch((error: Error) => assert.fail(`${error.message}\nregistry log:\n${registry.log().slice(-3000)}`));
  // The shared base layer is one blob; each platform's own layer and config are others.
  const stored = [...(await world.objects()).keys()].filter((k) => /\/blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}\/data$/.test(k));
  assert.equal(stored.length, 1 + 2 + 2 + 2 + 1, 'a shared base, two own layers, two configs, two manifests and the index');

  await setIsvKey(world, `registry_url = ${registry.url}`);
  const healthy = await status(world);
  assert.equal(healthy.code, 0, JSON.stringify(healthy.failed));
  // A platform's manifest gone: the index's tag fails, naming it.
  const arm = image.images[1]!.manifest.slice('sha256:'.length);
  const revision = path.join(world.storageDir, 'docker/registry/v2/repositories/acme/multi/_manifests/revisions/sha256', arm);
  await rm(revision, { recursive: true });
  const broken = await status(world);
  assert.equal(broken.code, 1);
  assert.match(JSON.stringify(broken.failed), new RegExp(`lists manifest sha256:${arm}, which is not a revision of acme/multi`));
});

test('a two-platform OCI index through raas serve (Crane v2 layout, version 4 metadata): lists to clients that accept them, the amd64 image to those that do not', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  // raas serve is the registry and serves the store itself: its URL is registry_url and public_url.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await editConfig(world, (text) => text.replace(/^registry_url = .*$/m, `registry_url = ${url}`).replace(/^storage = file$/m, `storage = file\npublic_url = ${url}/`));
  const { file, image } = await multiPlatformOciArchive(await tempDir(t), { tag: '1.0' });
  const report = await push(world, 'acme/multi', file);
  assert.equal(report.v2.manifests['1.0'], image.index);
  const [amd64, arm64] = image.images as [MultiPlatformImage['images'][number], MultiPlatformImage['images'][number]];

  const deployed = JSON.parse(await git(world.craneRemote, 'show', 'HEAD:crane/data/acme-acme-multi@v2.json')) as Record<string, unknown>;
  assert.equal(deployed['version'], 4);
  assert.deepEqual(deployed['manifest_list_data'], ['1.0', image.index].sort());
  assert.deepEqual(deployed['manifest_list_amd64_tags'], { '1.0': [amd64.manifest, 2] });
  assert.deepEqual(deployed['schema2_data'], [amd64.manifest, arm64.manifest].sort());

  await git(world.configDir, 'pull', '-q');
  // docker 25+ `docker save` of a multi-platform image (an OCI layout beside manifest.json): the same, whole.
  const saved = path.join(await tempDir(t), 'saved.tar');
  const savedImage = await writeDockerSaveMultiPlatform(saved, { tag: '1.0', name: 'acme/saved' });
  assert.equal((await push(world, 'acme/saved', saved)).v2.manifests['1.0'], savedImage.index);

  const served = await startServe(t, world, ['--listen', `127.0.0.1:${port}`]);
  await served.ready();
  await checkIndex(t, served.host, 'acme/multi', image);
  await checkIndex(t, served.host, 'acme/saved', savedImage);
  // A client that accepts no list gets the amd64 image, as Crane's manifest_list_amd64_tags says.
  const single = await fetch(`${served.url}/v2/acme/multi/manifests/1.0`, { headers: { Accept: DOCKER_MANIFEST } });
  assert.equal(single.status, 200);
  assert.equal(single.headers.get('docker-content-digest'), amd64.manifest);
  const status1 = await status(world);
  assert.equal(status1.code, 0, JSON.stringify(status1.failed));
  // containerd, the other real client: it resolves the tag with HEAD and fetches one platform of the index.
  const fetched = await ctrFetch(t, `${served.host}/acme/multi:1.0`, 'linux/arm64');
  if (fetched !== undefined) {
    for (const digest of [image.index, arm64.manifest, arm64.config, ...arm64.layerDigests]) assert.match(fetched, new RegExp(digest), `ctr fetched ${digest}`);
    assert.doesNotMatch(fetched, new RegExp(amd64.config), 'only the platform asked for');
  }
  assert.equal(await served.stop(), 0);
});

test('what travels with an image: cosign .sig and .att tags and an OCI 1.1 referrer, served by tag and by the referrers API of raas serve, and by tag from a stock registry', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const { file, image } = await attachedOciArchive(await tempDir(t), { tag: '1.0' });
  const report = await push(world, 'acme/signed', file);
  assert.equal(report.v2.manifests['1.0'], image.subject.digest);
  const sigTag = cosignTag(image.subject.digest, 'sig');
  assert.equal(report.v2.manifests[sigTag], image.signature.manifest);
  assert.equal(report.v2.manifests[cosignTag(image.subject.digest, 'att')], image.attestation.manifest);

  const served = await startServe(t, world);
  await served.ready();
  const sig = Buffer.from((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${served.host}/acme/signed:${sigTag}`)).stdout);
  assert.equal(sha256(sig), image.signature.manifest, 'the signature by its cosign tag');
  const referrers = await fetch(`${served.url}/v2/acme/signed/referrers/${image.subject.digest}`);
  assert.equal(referrers.status, 200);
  const listed = (await referrers.json()) as { manifests: { digest: string; artifactType?: string }[] };
  assert.deepEqual(listed.manifests.map((m) => [m.digest, m.artifactType]), [[image.referrer.manifest, image.referrer.artifactType]]);
  const byDigest = await fetch(`${served.url}/v2/acme/signed/manifests/${image.referrer.manifest}`, { headers: { Accept: OCI_MANIFEST } });
  assert.equal(sha256(Buffer.from(await byDigest.arrayBuffer())), image.referrer.manifest);
  assert.equal(await served.stop(), 0);

  // The same archive for a stock registry: the signature resolves by its tag there too.
  const stock = await makeWorld(t, { storage: 'file', platform: 'none' });
  await push(stock, 'acme/signed', file);
  const registry = await startStockRegistry(t, (await stock.raas(['registry-config', 'acme', '--listen', '127.0.0.1:5000'])).stdout);
  const fromStock = Buffer.from((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/acme/signed:${sigTag}`)).stdout);
  assert.equal(sha256(fromStock), image.signature.manifest);
  const referrer = await fetch(`${registry.url}v2/acme/signed/manifests/${image.referrer.manifest}`, { headers: { Accept: OCI_MANIFEST } });
  assert.equal(referrer.status, 200, 'the referrer is stored as a revision, by its digest');
});

test('images Docker v1 cannot carry — zstd layers, an index without linux/amd64 — go to the v2 layouts byte for byte, with a warning, and no v1 image', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await editConfig(world, (text) => text.replace(/^registry_url = .*$/m, `registry_url = ${url}`).replace(/^storage = file$/m, `storage = file\npublic_url = ${url}/`));
  const dir = await tempDir(t);
  const zstd = await zstdOciArchive(dir, { tag: '1.0' });
  // --only-tag names an image through its v1 view; this archive has none: refused, nothing written.
  const before = await world.snapshot();
  const renamed = await world.raas(['push', 'acme', 'acme/zstd', '--file', zstd.file, '--only-tag', 'stable']);
  assert.equal(renamed.code, 2, renamed.stderr);
  assert.match(renamed.stderr, /--only-tag renames an image through its Docker v1 view, and this archive has none/);
  assert.deepEqual(await world.snapshot(), before);
  const pushed = await world.raas(['push', 'acme', 'acme/zstd', '--file', zstd.file, '--json']);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stderr, /tag 1\.0 has a layer Docker v1 cannot unpack \(application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd\)/);
  const report = JSON.parse(pushed.stdout) as Record<string, any>;
  assert.equal(report.v2.manifests['1.0'], zstd.image.manifest);

  const arm = await multiPlatformOciArchive(dir, { tag: '2.0', platforms: [ARM64] });
  const armRun = await world.raas(['push', 'acme', 'acme/arm', '--file', arm.file, '--json']);
  assert.equal(armRun.code, 0, armRun.stderr);
  assert.match(armRun.stderr, /no linux\/amd64 image in this index \(found: linux\/arm64\)/);

  await git(world.configDir, 'pull', '-q');
  const served = await startServe(t, world, ['--listen', `127.0.0.1:${port}`]);
  await served.ready();
  const pulled = await tempDir(t, 'raas-pulled-');
  await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${served.host}/acme/zstd:1.0`, `dir:${pulled}`);
  const manifest = await readFile(path.join(pulled, 'manifest.json'));
  assert.equal(sha256(manifest), zstd.image.manifest);
  const layer = (JSON.parse(manifest.toString()) as { layers: { digest: string; mediaType: string }[] }).layers[0]!;
  assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
  assert.equal(sha256(await readFile(path.join(pulled, layer.digest.slice('sha256:'.length)))), layer.digest, 'the zstd layer byte for byte');
  await checkIndex(t, served.host, 'acme/arm', arm.image);
  // Docker v1 clients get no image: no v1 tag was published.
  const v1 = JSON.parse(await git(world.craneRemote, 'show', 'HEAD:crane/data/acme-acme-zstd.json')) as { images: unknown[]; tags: Record<string, string> };
  assert.deepEqual([v1.images, v1.tags], [[], {}]);
  const checked = await status(world);
  assert.equal(checked.code, 0, JSON.stringify(checked.failed));
  assert.equal(await served.stop(), 0);
});
