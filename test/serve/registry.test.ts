import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { parseListen } from '../../src/cli/serve.ts';
import { ManifestCache } from '../../src/serve/manifests.ts';
import { startServer } from '../../src/serve/server.ts';
import { dirSource } from '../../src/serve/source.ts';
import { createFileStore } from '../../src/storage/file.ts';
import { tempDir } from '../helpers/git.ts';

/**
 * The registry API raas serve answers from a directory store: tag list pagination,
 * referrers, manifests by digest checked against their bytes, the manifest cache's bound.
 */
const silent = pino({ level: 'silent' });
const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers checked field by field below
const body = async (response: Response): Promise<any> => response.json();

async function registry(t: TestContext) {
  const root = await tempDir(t);
  const store = createFileStore({ root: path.join(root, 'store') });
  const put = async (key: string, bytes: Buffer) => {
    await mkdir(path.dirname(path.join(root, 'store', key)), { recursive: true });
    await writeFile(path.join(root, 'store', key), bytes);
  };
  const image = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 }, layers: [] }));
  const subject = { mediaType: OCI_MANIFEST, digest: digestOf(image), size: image.length };
  const artifact = (type: string) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: type, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${'e'.repeat(64)}`, size: 2 }, layers: [], subject, annotations: { by: type } }));
  const signature = artifact('application/vnd.example.signature');
  const sbom = artifact('application/spdx+json');
  const wrong = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}');
  const claimed = `sha256:${'9'.repeat(64)}`;
  for (const [ref, bytes] of [['1.0', image], [digestOf(image), image], [digestOf(signature), signature], [digestOf(sbom), sbom], [claimed, wrong]] as const) {
    await put(`acme-app/v2/manifests/2/${ref}`, bytes);
  }
  const tags = Array.from({ length: 7 }, (_, i) => `t${i}`);
  await mkdir(path.join(root, 'data'));
  await writeFile(path.join(root, 'data', 'acme-app@v2.json'), JSON.stringify({
    type: 'pulp-docker-redirect', version: 3, repository: 'acme-app', 'repo-registry-id': 'acme/app', url: store.publicUrl('acme-app/v2/'),
    schema2_data: ['1.0', ...tags, digestOf(image), digestOf(signature), digestOf(sbom), claimed],
  }));
  const source = dirSource({ dir: path.join(root, 'data'), pollMs: 60_000, logger: silent });
  source.start();
  await source.close();
  const server = await startServer({ source, store: { store, presignSeconds: 60 } });
  t.after(() => server.close());
  return { url: `${server.url}/v2/acme/app`, image, signature, sbom, claimed, tags: ['1.0', ...tags] };
}

describe('raas serve registry API', () => {
  it('paginates tags/list with n and last, with a Link to the next page', async (t) => {
    const r = await registry(t);
    assert.deepEqual(await body(await fetch(`${r.url}/tags/list`)), { name: 'acme/app', tags: r.tags });
    const first = await fetch(`${r.url}/tags/list?n=3`);
    assert.deepEqual((await body(first)).tags, ['1.0', 't0', 't1']);
    assert.equal(first.headers.get('link'), '</v2/acme/app/tags/list?n=3&last=t1>; rel="next"');
    const next = await fetch(`${r.url}/tags/list?n=3&last=t1`);
    assert.deepEqual((await body(next)).tags, ['t2', 't3', 't4']);
    const end = await fetch(`${r.url}/tags/list?n=3&last=t4`);
    assert.deepEqual([(await body(end)).tags, end.headers.get('link')], [['t5', 't6'], null]);
    assert.deepEqual((await body(await fetch(`${r.url}/tags/list?n=0`))).tags, []);
    const bad = await fetch(`${r.url}/tags/list?n=-1`);
    assert.deepEqual([bad.status, (await body(bad)).errors[0].code], [400, 'PAGINATION_NUMBER_INVALID']);
  });

  it('answers referrers: an index of the manifests whose subject is the digest, filtered by artifactType', async (t) => {
    const r = await registry(t);
    const all = await fetch(`${r.url}/referrers/${digestOf(r.image)}`);
    assert.equal(all.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    const index = await body(all);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(new Set(index.manifests.map((m: { digest: string }) => m.digest)), new Set([digestOf(r.signature), digestOf(r.sbom)]));
    const sig = index.manifests.find((m: { digest: string }) => m.digest === digestOf(r.signature));
    assert.deepEqual(sig, { mediaType: OCI_MANIFEST, digest: digestOf(r.signature), size: r.signature.length, artifactType: 'application/vnd.example.signature', annotations: { by: 'application/vnd.example.signature' } });
    const filtered = await fetch(`${r.url}/referrers/${digestOf(r.image)}?artifactType=application/spdx%2Bjson`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual((await body(filtered)).manifests.map((m: { digest: string }) => m.digest), [digestOf(r.sbom)]);
    assert.deepEqual((await body(await fetch(`${r.url}/referrers/sha256:${'1'.repeat(64)}`))).manifests, []);
    assert.equal((await fetch(`${r.url}/referrers/latest`)).status, 400);
  });

  it('serves a manifest by digest only when its bytes have that digest', async (t) => {
    const r = await registry(t);
    const byDigest = await fetch(`${r.url}/manifests/${digestOf(r.image)}`, { method: 'HEAD' });
    assert.deepEqual([byDigest.status, byDigest.headers.get('content-type'), byDigest.headers.get('docker-content-digest')], [200, OCI_MANIFEST, digestOf(r.image)]);
    const forged = await fetch(`${r.url}/manifests/${r.claimed}`);
    assert.deepEqual([forged.status, (await body(forged)).errors[0].code], [404, 'MANIFEST_UNKNOWN']);
    const odd = await fetch(`${r.url}/manifests/md5:abc`);
    assert.deepEqual([odd.status, (await body(odd)).errors[0].code], [400, 'DIGEST_INVALID']);
  });
});

describe('ManifestCache', () => {
  it('holds at most its byte bound, dropping the least recently used', async (t) => {
    const root = await tempDir(t);
    const store = createFileStore({ root });
    const bytes = (i: number) => Buffer.from(JSON.stringify({ schemaVersion: 2, pad: String(i).repeat(100) }));
    for (let i = 0; i < 10; i++) await store.put(`m/${i}`, bytes(i), { contentType: 'application/json' });
    const cache = new ManifestCache(store, silent, 350);
    for (let i = 0; i < 10; i++) assert.ok(await cache.get(`m/${i}`, 1));
    assert.ok(cache.size <= 350 && cache.size > 0, String(cache.size));
    // A new snapshot reads the key again; the digest entry may still be cached.
    assert.equal((await cache.get('m/9', 2, digestOf(bytes(9))))?.digest, digestOf(bytes(9)));
  });

  it('types a manifest the store has no Content-Type for by its body: its mediaType, absent meaning OCI, even at manifests/1/ (uploaded untyped, or from a file store)', async (t) => {
    const store = createFileStore({ root: await tempDir(t) });
    const put = async (key: string, value: unknown) => store.put(key, Buffer.from(JSON.stringify(value)), { contentType: 'application/octet-stream' });
    await put('a/v2/manifests/1/oci', { schemaVersion: 2, config: {}, layers: [] });
    await put('a/v2/manifests/list/oci', { schemaVersion: 2, manifests: [] });
    await put('a/v2/manifests/2/docker', { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: {}, layers: [] });
    await put('a/v2/manifests/1/old', { schemaVersion: 1, name: 'a', tag: 'x' });
    const cache = new ManifestCache(store, silent);
    const typeOf = async (key: string) => (await cache.get(key, 1))?.mediaType;
    assert.equal((await store.read('a/v2/manifests/1/oci', { maxBytes: 1024 }))?.contentType, undefined, 'the file store keeps no Content-Type');
    assert.equal(await typeOf('a/v2/manifests/1/oci'), OCI_MANIFEST);
    assert.equal(await typeOf('a/v2/manifests/list/oci'), 'application/vnd.oci.image.index.v1+json');
    assert.equal(await typeOf('a/v2/manifests/2/docker'), 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(await typeOf('a/v2/manifests/1/old'), 'application/vnd.docker.distribution.manifest.v1+prettyjws');
  });
});

describe('--listen', () => {
  it('takes host:port, [v6]:port and :port', () => {
    assert.deepEqual(parseListen('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen(':8080'), { host: '127.0.0.1', port: 8080 });
    for (const bad of ['5000', 'host', 'a:b', '1.2.3.4:70000', '[::1]']) assert.throws(() => parseListen(bad), /expected <host>:<port>/, bad);
  });
});
