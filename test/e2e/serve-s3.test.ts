import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPulls, publishEachFormat, startServe } from '../helpers/serve.ts';
import { makeWorld } from '../helpers/world.ts';

/**
 * raas serve in front of S3 (s3rver): skopeo pulls a docker-archive, an oci-archive and a
 * Pulp export by tag and by digest, through the built CLI serving the app repository.
 */

test('a public bucket: manifests answered by raas serve, blobs redirected to the public URL', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const published = await publishEachFormat(world);
  const served = await startServe(t, world, ['--poll', '1']);
  assert.equal((await served.ready()).source, 'git');
  for (const p of published) await checkPulls(t, served.host, p);
  const config = await fetch(`${served.url}/v2/acme/oci/blobs/${published[1]!.digest}`, { redirect: 'manual' });
  assert.equal(config.status, 302);
  assert.equal(config.headers.get('location'), `${world.s3!.endpoint}/${world.bucket}/acme-oci/v2/blobs/${published[1]!.digest}`);
  assert.equal(await served.stop(), 0);
});

test('a private bucket: blobs redirected to pre-signed URLs s3rver checks, HEAD answered without a redirect', async (t) => {
  const world = await makeWorld(t, { storage: 's3', isvLines: ['access = private', 'presign_lifetime = 5'] });
  const published = await publishEachFormat(world);
  const served = await startServe(t, world, ['--poll', '1']);
  await served.ready();
  for (const p of published) await checkPulls(t, served.host, p);

  const manifest = JSON.parse(await (await fetch(`${served.url}/v2/acme/pulp/manifests/1.0`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).text());
  const layer = manifest.layers[0].digest as string;
  const blob = await fetch(`${served.url}/v2/acme/pulp/blobs/${layer}`, { redirect: 'manual' });
  assert.equal(blob.status, 307);
  const location = new URL(blob.headers.get('location')!);
  assert.equal(location.origin + decodeURIComponent(location.pathname), `${world.s3!.endpoint}/${world.bucket}/acme-pulp/v2/blobs/${layer}`);
  assert.equal(location.searchParams.get('X-Amz-Expires'), '300');
  assert.equal((await fetch(location)).status, 200);
  // s3rver checks a pre-signed query's access key and lifetime (not the signature bytes, and it serves anonymous reads):
  // the URL is signed with the configured key, and stops working once its lifetime is over.
  const expired = new URL(location);
  expired.searchParams.set('X-Amz-Date', '20200101T000000Z');
  assert.equal((await fetch(expired)).status, 403);
  const otherKey = new URL(location);
  otherKey.searchParams.set('X-Amz-Credential', location.searchParams.get('X-Amz-Credential')!.replace(/^[^/]+/, 'SOMEONEELSE'));
  assert.equal((await fetch(otherKey)).status, 403);

  const head = await fetch(`${served.url}/v2/acme/pulp/blobs/${layer}`, { method: 'HEAD', redirect: 'manual' });
  assert.deepEqual([head.status, head.headers.get('docker-content-digest'), head.headers.get('content-length')], [200, layer, String(manifest.layers[0].size)]);
  assert.equal(served.stderr().includes('X-Amz-Signature='), false, 'no signature in the access log');
  assert.equal(await served.stop(), 0);
});
