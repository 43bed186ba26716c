import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buffer } from 'node:stream/consumers';
import { execa } from 'execa';
import { readArchive } from '../../src/image/read.ts';
import { startServer } from '../../src/serve/server.ts';
import { dirSnapshot } from '../../src/serve/source.ts';
import { makeExample, pulpChain, randomLayer, writePulpExport, type Layer } from '../helpers/archives.ts';
import { git, tempDir } from '../helpers/git.ts';
import { startBaseParty } from '../helpers/base-party.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * Docker v2 clients pull what raas published: push to s3rver (or a directory behind a
 * static web server), serve the deployed Crane data with the Crane-compatible front end,
 * and pull with the real skopeo, which follows Crane's redirects into storage.
 */

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Serve the Crane data directory the push deployed, as the Crane app would. */
async function craneFor(t: TestContext, world: World): Promise<string> {
  const checkout = await tempDir(t, 'raas-crane-');
  await git(checkout, 'clone', '-q', world.craneRemote, 'app');
  const crane = await startServer({ source: await dirSnapshot(path.join(checkout, 'app', 'crane/data')) });
  t.after(() => crane.close());
  return new URL(crane.url).host;
}

async function push(world: World, file: string, ...extra: string[]) {
  const run = await world.raas(['push', 'acme', 'acme/app', '--file', file, '--json', ...extra]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

const skopeo = (...args: string[]) => execa('skopeo', ['--insecure-policy', ...args], { encoding: 'buffer' });

interface Pulled {
  /** The manifest and config as published (skopeo rewrites both when it stores OCI). */
  readonly manifest: { mediaType: string; config: { mediaType: string; digest: string }; layers: { digest: string; mediaType: string }[] };
  readonly config: { rootfs: { diff_ids: string[] }; history?: unknown[]; [key: string]: unknown };
  /** The pulled layers, uncompressed. */
  readonly tars: Buffer[];
}

const inspectRaw = async (registry: string, reference: string, ...flags: string[]): Promise<Buffer> =>
  Buffer.from((await skopeo('inspect', '--raw', ...flags, '--tls-verify=false', `docker://${registry}/acme/app${reference}`)).stdout);

/** `skopeo copy` to an OCI layout (skopeo checks every blob against its digest), and the published manifest and config. */
async function pull(t: TestContext, registry: string, reference: string): Promise<Pulled> {
  const dir = await tempDir(t, 'raas-pulled-');
  await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${registry}/acme/app${reference}`, `oci:${dir}:pulled`);
  const blob = (digest: string) => readFile(path.join(dir, 'blobs/sha256', digest.slice('sha256:'.length)));
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
  const stored = JSON.parse((await blob(index.manifests[0].digest)).toString());
  const tars = await Promise.all(stored.layers.map(async (l: { digest: string; mediaType: string }) => {
    const data = await blob(l.digest);
    return l.mediaType.endsWith('gzip') ? gunzipSync(data) : data;
  }));
  const manifest = JSON.parse((await inspectRaw(registry, reference)).toString());
  const config = await inspectRaw(registry, reference, '--config');
  assert.equal(`sha256:${sha256(config)}`, manifest.config.digest);
  return { manifest, config: JSON.parse(config.toString()), tars };
}

/** What `skopeo inspect` sees: the manifest raas stored, with its media type, digest and the tag list. */
async function inspect(registry: string, reference: string): Promise<{ Digest: string; RepoTags: string[]; Layers: string[] }> {
  const { stdout } = await skopeo('inspect', '--tls-verify=false', `docker://${registry}/acme/app${reference}`);
  return JSON.parse(Buffer.from(stdout).toString());
}

async function rawManifest(registry: string, reference: string): Promise<{ mediaType: string; digest: string }> {
  const raw = await inspectRaw(registry, reference);
  return { mediaType: JSON.parse(raw.toString()).mediaType, digest: `sha256:${sha256(raw)}` };
}

const diffIds = (layers: readonly Layer[]) => layers.map((l) => l.diffId);

test('an OCI archive pushed to S3 is pulled by tag and by digest with skopeo, its OCI manifest byte for byte; Crane picks it only for clients that accept schema 2', async (t) => {
  const world = await makeWorld(t, { storage: 's3', prefix: 'registries/' });
  // One layer of 1 MiB and more (copied from the v1 layout), two smaller (uploaded).
  const example = await makeExample({ dir: world.root, format: 'oci-archive', layers: [randomLayer(1024 * 1024), randomLayer(), randomLayer()], tag: '1.0' });
  const report = await push(world, example.file);
  const registry = await craneFor(t, world);

  const pulled = await pull(t, registry, ':1.0');
  assert.deepEqual(pulled.tars, example.layers.map((l) => l.tar), 'the layers\' bytes are the archive\'s');
  assert.deepEqual(pulled.config.rootfs.diff_ids, diffIds(example.layers));

  const digest = report.v2.manifests['1.0'];
  // OCI stays OCI: the manifest published is the archive's own, not a conversion.
  const archived = JSON.parse((await execa('skopeo', ['inspect', `oci-archive:${example.file}`])).stdout) as { Digest: string };
  assert.equal(digest, archived.Digest);
  const seen = await inspect(registry, ':1.0');
  assert.equal(seen.Digest, digest);
  assert.deepEqual(seen.RepoTags, ['1.0']);
  assert.deepEqual(await rawManifest(registry, `@${digest}`), { mediaType: OCI_MANIFEST, digest });

  // The same bytes under both layouts: server-side copies of the v1 layer objects from 1 MiB on, uploads below.
  const objects = await world.objects();
  const copied = new Map(report.v2.uploaded.map((o: { key: string; size: number; copied: boolean }) => [o.key, o.copied]));
  for (const id of example.ids) {
    const layer = objects.get(`registries/acme-app/${id}/layer`)!;
    assert.equal(objects.get(`registries/acme-app/v2/blobs/sha256:${layer}`), layer);
    const written = report.v2.uploaded.find((o: { key: string }) => o.key.endsWith(`/v2/blobs/sha256:${layer}`));
    assert.equal(copied.get(written.key), written.size >= 1024 * 1024, `${written.key} (${written.size} bytes)`);
  }
  assert.deepEqual([...copied.values()].filter(Boolean).length, 1);

  // The store serves every redirect target with the type clients need.
  const head = async (key: string) => (await fetch(`${world.s3!.endpoint}/${world.bucket}/registries/acme-app/v2/${key}`)).headers.get('content-type');
  assert.equal(await head('manifests/2/1.0'), OCI_MANIFEST);
  assert.equal(await head(`manifests/2/${digest}`), OCI_MANIFEST);
  assert.equal(await head(`blobs/${pulled.manifest.config.digest}`), 'application/octet-stream');

  // What Crane answers clients that do not accept schema 2: the schema 1 file, which raas does not publish.
  const crane = `http://${registry}/v2/acme/app/manifests/1.0`;
  const without = await fetch(crane, { redirect: 'manual', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(without.headers.get('location'), `${world.s3!.endpoint}/${world.bucket}/registries/acme-app/v2/manifests/1/1.0`);

  const deployed = JSON.parse(await git(world.craneRemote, 'show', 'HEAD:crane/data/acme-acme-app@v2.json'));
  assert.deepEqual(deployed, {
    type: 'pulp-docker-redirect', version: 3, repository: 'acme-acme-app', 'repo-registry-id': 'acme/app',
    url: `${world.s3!.endpoint}/${world.bucket}/registries/acme-app/v2/`, protected: false, schema2_data: ['1.0', digest],
  });
  const backup = await git(world.configRemote, 'show', 'HEAD:acme/metadata/acme-app@v2.json');
  assert.deepEqual(JSON.parse(backup), deployed);
});

test('a Pulp export gets a config made from its v1 JSON; diff_ids of plain and gzip layers are their uncompressed digests', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const layers = [randomLayer(), randomLayer(), randomLayer()];
  const images = pulpChain(layers).map((image, i) => ({
    ...image,
    // Pulp layers are normally plain tars; Docker v1 also pushed gzip-compressed ones.
    layer: i === 1 ? gzipSync(image.layer) : image.layer,
    json: { created: `2015-0${i + 1}-01T00:00:00Z`, author: 'acme', container_config: { Cmd: ['/bin/sh', '-c', `step ${i}`] }, config: { Cmd: ['/app'] }, Size: 1 },
  }));
  const file = path.join(world.root, 'acme-app.tar');
  await writePulpExport(file, { repoId: 'acme-app', registryId: 'acme/app', images, tags: { latest: images.at(-1)!.id, '2.0': images.at(-1)!.id } });
  await push(world, file);
  const registry = await craneFor(t, world);

  const pulled = await pull(t, registry, ':latest');
  assert.deepEqual(pulled.tars, layers.map((l) => l.tar));
  assert.deepEqual(pulled.config.rootfs.diff_ids, diffIds(layers));
  assert.deepEqual(pulled.manifest.layers.map((l) => l.mediaType), ['tar', 'tar.gzip', 'tar'].map((c) => `application/vnd.docker.image.rootfs.diff.${c}`));
  assert.deepEqual(pulled.manifest.layers.map((l) => l.digest), images.map((i) => `sha256:${sha256(i.layer)}`));
  assert.equal(pulled.manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
  assert.deepEqual(pulled.config.history, images.map((_, i) => ({ created: `2015-0${i + 1}-01T00:00:00Z`, author: 'acme', created_by: `/bin/sh -c step ${i}` })));
  assert.deepEqual(pulled.config['config'], { Cmd: ['/app'] });
  for (const key of ['id', 'parent', 'Size']) assert.ok(!(key in pulled.config), key);
  assert.deepEqual((await inspect(registry, ':2.0')).RepoTags, ['2.0', 'latest']);
});

test('a later push adds its tag and keeps the earlier one, in tags/list and in the redirect file', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const first = await makeExample({ dir: world.root, format: 'docker-archive', layers: 2, tag: '1.0' });
  const second = await makeExample({ dir: world.root, format: 'oci-archive', layers: 2, tag: '2.0' });
  await push(world, first.file);
  const report = await push(world, second.file);
  const registry = await craneFor(t, world);
  assert.deepEqual((await pull(t, registry, ':1.0')).tars, first.layers.map((l) => l.tar));
  assert.deepEqual((await pull(t, registry, ':2.0')).tars, second.layers.map((l) => l.tar));
  assert.deepEqual((await inspect(registry, ':2.0')).RepoTags, ['1.0', '2.0']);
  const deployed = JSON.parse(await git(world.craneRemote, 'show', 'HEAD:crane/data/acme-acme-app@v2.json'));
  assert.deepEqual(deployed.schema2_data.filter((r: string) => !r.startsWith('sha256:')), ['1.0', '2.0']);
  assert.ok(deployed.schema2_data.includes(report.v2.manifests['2.0']));
});

test('a masked base layer stays with its host: v2 manifests name it as a foreign layer, and clients fetch it there', async (t) => {
  const example = await makeExample({ dir: await tempDir(t), format: 'oci-archive', layers: 2, tag: 'latest' });
  const [base, own] = example.ids as [string, string];
  const repo = await readArchive(example.file, { workDir: await tempDir(t) });
  const baseLayer = await buffer(repo.images[0]!.layer.open());
  const party = await startBaseParty(t, { id: base, layer: baseLayer });
  const { url: hostUrl, requests } = party;
  const world = await makeWorld(t, { storage: 's3', baseMetadata: { 'rhel7.json': party.metadata } });
  const report = await push(world, example.file);
  assert.deepEqual(report.masked, [base]);
  const stored = new Map(await Promise.all([...(await world.objects()).keys()].map(async (k) => [k, await world.object(k)] as const)));
  assert.ok(![...stored.values()].some((bytes) => bytes.equals(baseLayer)), 'the masked layer is nowhere in the bucket');
  assert.deepEqual([...stored.keys()].filter((k) => !k.startsWith('acme-app/v2/')).sort(), ['ancestry', 'json', 'layer'].map((f) => `acme-app/${own}/${f}`));

  const registry = await craneFor(t, world);
  const manifest = JSON.parse((await inspectRaw(registry, ':latest')).toString());
  assert.equal(manifest.layers[0].mediaType, 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip');
  assert.deepEqual(manifest.layers[0].urls, [`${hostUrl}${base}/layer`]);
  // A dir: destination takes no foreign layers, so skopeo fetches the base layer from its host.
  const dir = await tempDir(t, 'raas-pulled-');
  await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${registry}/acme/app:latest`, `dir:${dir}`);
  const layers = await Promise.all(manifest.layers.map((l: { digest: string }) => readFile(path.join(dir, l.digest.slice('sha256:'.length)))));
  assert.deepEqual(layers.map((l) => gunzipSync(l)), example.layers.map((l) => l.tar));
  assert.deepEqual(requests, [`/rhel7/${base}/layer`]);
});

test('a tag whose masked layer has no known host gets no v2 manifest, and the push says so', async (t) => {
  const example = await makeExample({ dir: await tempDir(t), format: 'pulp', layers: 2, tag: 'latest' });
  const world = await makeWorld(t, { storage: 's3', mask: [example.ids[0]!] });
  const run = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, new RegExp(`v2: tag latest is not published for Docker v2 clients: masked layer ${example.ids[0]} has no known host`));
  assert.deepEqual(JSON.parse(run.stdout).v2.unservable, { latest: example.ids[0] });
});

/** A static web server for a storage directory (named once it exists), typing manifests as a web server must be configured to. */
async function staticServer(t: TestContext): Promise<{ url: string; serve(root: string): void }> {
  let root = '/nonexistent';
  const server = http.createServer(async (req, res) => {
    const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).slice(1);
    const file = path.join(root, ...key.split('/'));
    if (!file.startsWith(root) || !(await stat(file).then((s) => s.isFile(), () => false))) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': /\/v2\/manifests\/2\//.test(key) ? SCHEMA2 : key.endsWith('/tags/list') ? 'application/json' : 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, serve: (dir) => { root = dir; } };
}

test('a directory store behind a static web server is pulled the same way; a rerun writes nothing', async (t) => {
  const web = await staticServer(t);
  const world = await makeWorld(t, { storage: 'file', isvLines: [`public_url = ${web.url}`] });
  web.serve(world.storageDir);
  const example = await makeExample({ dir: world.root, format: 'docker-save 1.10-24', layers: 2, tag: '3.1' });
  await push(world, example.file);
  const registry = await craneFor(t, world);
  assert.deepEqual((await pull(t, registry, ':3.1')).tars, example.layers.map((l) => l.tar));
  const again = await push(world, example.file, '--no-commit');
  assert.deepEqual([again.v2.uploaded.length, again.metadata.changed], [0, false]);
});
