import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { readArchive } from '../../src/image/read.ts';
import { makeExample } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';
import { checkPulls, publishEachFormat, skopeo, startServe } from '../helpers/serve.ts';
import { startBaseParty } from '../helpers/base-party.ts';
import { makeWorld } from '../helpers/world.ts';

/**
 * raas serve in front of a directory store without any web server: manifests and blobs
 * come from the directory itself (the metadata's URLs are file:// URLs no client could
 * follow), streamed with ranges.
 */
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

test('a directory store: skopeo pulls each format by tag and digest; manifest HEAD and blob ranges are answered by raas serve', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const published = await publishEachFormat(world);
  const served = await startServe(t, world, ['--poll', '1']);
  await served.ready();
  for (const p of published) await checkPulls(t, served.host, p);

  // containerd resolves a tag with HEAD: the three headers, no redirect, no body.
  const oci = published[1]!;
  const head = await fetch(`${served.url}/v2/acme/oci/manifests/1.0`, { method: 'HEAD', redirect: 'manual', headers: { Accept: SCHEMA2 } });
  const stored = await world.object(`acme-oci/v2/manifests/2/1.0`);
  assert.deepEqual(
    [head.status, head.headers.get('content-type'), head.headers.get('content-length'), head.headers.get('docker-content-digest')],
    // An OCI archive's manifest is published as it is: OCI.
    [200, OCI_MANIFEST, String(stored.length), oci.digest],
  );
  const get = await fetch(`${served.url}/v2/acme/oci/manifests/${oci.digest}`);
  assert.deepEqual([get.status, get.headers.get('content-type')], [200, OCI_MANIFEST]);
  assert.ok(Buffer.from(await get.arrayBuffer()).equals(stored));

  const layer = oci.layerDigests[0]!;
  const blob = await world.object(`acme-oci/v2/blobs/${layer}`);
  const range = await fetch(`${served.url}/v2/acme/oci/blobs/${layer}`, { headers: { Range: 'bytes=100-1099' } });
  assert.equal(range.status, 206);
  assert.equal(range.headers.get('content-range'), `bytes 100-1099/${blob.length}`);
  assert.equal(range.headers.get('docker-content-digest'), layer);
  assert.ok(Buffer.from(await range.arrayBuffer()).equals(blob.subarray(100, 1100)));
  const tail = await fetch(`${served.url}/v2/acme/oci/blobs/${layer}`, { headers: { Range: 'bytes=-10' } });
  assert.deepEqual([tail.status, Buffer.from(await tail.arrayBuffer()).equals(blob.subarray(-10))], [206, true]);
  const outside = await fetch(`${served.url}/v2/acme/oci/blobs/${layer}`, { headers: { Range: `bytes=${blob.length}-` } });
  assert.deepEqual([outside.status, outside.headers.get('content-range')], [416, `bytes */${blob.length}`]);
  await outside.body?.cancel();
  const whole = await fetch(`${served.url}/v2/acme/oci/blobs/${layer}`, { method: 'HEAD' });
  assert.deepEqual([whole.status, whole.headers.get('content-length'), whole.headers.get('accept-ranges')], [200, String(blob.length), 'bytes']);
  const missing = await fetch(`${served.url}/v2/acme/oci/blobs/sha256:${'0'.repeat(64)}`);
  assert.deepEqual([missing.status, ((await missing.json()) as { errors: { code: string }[] }).errors[0]!.code], [404, 'BLOB_UNKNOWN']);
  assert.equal(await served.stop(), 0);
});

test('a masked base layer is fetched from the base party\'s URL, named by the metadata deployed beside the ISV\'s', async (t) => {
  const example = await makeExample({ dir: await tempDir(t), format: 'oci-archive', layers: 2, tag: 'latest' });
  const [base] = example.ids as [string, string];
  const repo = await readArchive(example.file, { workDir: await tempDir(t) });
  const baseLayer = await buffer(repo.images[0]!.layer.open());
  const party = await startBaseParty(t, { id: base, layer: baseLayer });
  const { url: hostUrl, requests } = party;
  const world = await makeWorld(t, { storage: 'file', baseMetadata: { 'rhel7.json': party.metadata } });
  const run = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const served = await startServe(t, world);
  await served.ready();

  // v1: the base image is looked up across every repository, and redirected to its host.
  const v1 = await fetch(`${served.url}/v1/images/${base}/layer`, { redirect: 'manual' });
  assert.deepEqual([v1.status, v1.headers.get('location')], [302, `${hostUrl}${base}/layer`]);
  // v2: a foreign layer; skopeo fetches it from its URL, the rest through raas serve.
  const dir = await tempDir(t, 'raas-pulled-');
  await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${served.host}/acme/app:latest`, `dir:${dir}`);
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.layers[0].urls, [`${hostUrl}${base}/layer`]);
  const layers = await Promise.all(manifest.layers.map((l: { digest: string }) => readFile(path.join(dir, l.digest.slice('sha256:'.length)))));
  assert.deepEqual(layers.map((l) => sha256(gunzipSync(l))), example.layers.map((l) => l.diffId.slice('sha256:'.length)));
  assert.deepEqual(requests, [`/rhel7/${base}/layer`]);
});
