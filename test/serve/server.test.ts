import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { buildV1Redirect, serializeRedirect } from '../../src/crane/redirect.ts';
import { startServer } from '../../src/serve/server.ts';
import { dirSnapshot } from '../../src/serve/source.ts';
import { tempDir } from '../helpers/git.ts';

const BASE = '1'.repeat(64);
const TOP = '2'.repeat(64);
const SECRET = '3'.repeat(64);

/** A static web server standing in for the object stores behind the redirects. */
async function objectStore(t: TestContext, objects: Record<string, string>): Promise<string> {
  const server = http.createServer((req, res) => {
    const body = objects[req.url ?? ''];
    res.writeHead(body === undefined ? 404 : 200, { 'Content-Type': 'application/octet-stream' }).end(body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function writeJson(dir: string, name: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
  await writeFile(path.join(dir, name), typeof value === 'string' ? value : serializeRedirect(value as Record<string, unknown>));
}

async function registry(t: TestContext) {
  const store = await objectStore(t, {
    [`/redhat/${BASE}/json`]: '{"id": "base"}',
    [`/redhat/${BASE}/ancestry`]: JSON.stringify([BASE]),
    [`/acme/${TOP}/json`]: '{"id": "top"}',
    [`/acme/${TOP}/ancestry`]: JSON.stringify([TOP, BASE]),
  });
  const dataDir = await tempDir(t);
  // Red Hat's file lists the base image; the ISV's lists only its own (the base is masked).
  await writeJson(dataDir, 'rhel7.json', buildV1Redirect({ repository: 'rhel7', registryId: 'rhel7', url: `${store}/redhat/`, imageIds: [BASE], tags: { latest: BASE } }));
  await writeJson(dataDir, 'isv/acme-app.json', buildV1Redirect({ repository: 'acme-app', registryId: 'acme/app', url: `${store}/acme`, imageIds: [TOP], tags: { latest: TOP } }));
  await writeJson(dataDir, 'v2/acme-app.json', { type: 'pulp-docker-redirect', version: 2, repository: 'acme-app', 'repo-registry-id': 'acme/app', url: `${store}/v2/acme/` });
  await writeJson(dataDir, 'secret.json', { ...buildV1Redirect({ repository: 's', registryId: 'secret/app', url: `${store}/s/`, imageIds: [SECRET], tags: {} }), protected: true });
  await writeFile(path.join(dataDir, 'default_config.conf'), '[general]\n');
  const crane = await startServer({ source: await dirSnapshot(dataDir) });
  t.after(() => crane.close());
  return { crane: crane.url, store };
}

const get = (url: string, init: RequestInit = {}) => fetch(url, { redirect: 'manual', ...init });
const errorCode = async (response: Response): Promise<string> => ((await response.json()) as { errors: { code: string }[] }).errors[0]!.code;

describe('startServer over a data directory', () => {
  it('answers the v1 ping and the v2 base like Crane', async (t) => {
    const { crane } = await registry(t);
    const ping = await get(`${crane}/v1/_ping`);
    assert.equal(ping.status, 200);
    assert.equal(await ping.json(), true);
    assert.equal(ping.headers.get('content-type'), 'application/json');
    assert.equal(ping.headers.get('x-docker-registry-version'), '0.6.6');
    assert.equal(ping.headers.get('x-docker-registry-standalone'), 'True');
    const v2 = await get(`${crane}/v2/`);
    assert.deepEqual([v2.status, await v2.json(), v2.headers.get('docker-distribution-api-version')], [200, {}, 'registry/2.0']);
  });

  it('serves image lists and tags, with and without the library/ prefix', async (t) => {
    const { crane } = await registry(t);
    const images = await get(`${crane}/v1/repositories/acme/app/images`);
    assert.deepEqual(await images.json(), [{ id: TOP }]);
    assert.equal(images.headers.get('x-docker-endpoints'), new URL(crane).host);
    assert.deepEqual(await (await get(`${crane}/v1/repositories/library/rhel7/tags`)).json(), { latest: BASE });
    assert.deepEqual(await (await get(`${crane}/v1/repositories/rhel7/tags`)).json(), { latest: BASE });
    assert.equal(await (await get(`${crane}/v1/repositories/acme/app/tags/latest`)).json(), TOP);
    assert.equal((await get(`${crane}/v1/repositories/acme/app/tags/nope`)).status, 404);
  });

  it('redirects image files to the url of whichever repository lists the image', async (t) => {
    const { crane, store } = await registry(t);
    const top = await get(`${crane}/v1/images/${TOP}/json`);
    assert.equal(top.status, 302);
    assert.equal(top.headers.get('location'), `${store}/acme/${TOP}/json`);
    assert.equal((await get(`${crane}/v1/images/${BASE}/layer`)).headers.get('location'), `${store}/redhat/${BASE}/layer`);
  });

  it('lets a client pull across two parties\' repositories by following the redirects', async (t) => {
    const { crane } = await registry(t);
    const [tag] = Object.values(await (await fetch(`${crane}/v1/repositories/acme/app/tags`)).json() as Record<string, string>);
    const ancestry = await (await fetch(`${crane}/v1/images/${tag}/ancestry`)).json() as string[];
    assert.deepEqual(ancestry, [TOP, BASE]);
    const configs = await Promise.all(ancestry.map(async (id) => (await fetch(`${crane}/v1/images/${id}/json`)).json()));
    assert.deepEqual(configs, [{ id: 'top' }, { id: 'base' }]);
  });

  it('answers what it does not serve as Crane does: plain-text 404 outside /v2/, spec JSON errors inside, 405 for writes', async (t) => {
    const { crane } = await registry(t);
    for (const url of [
      `/v1/images/${TOP}/checksum`, `/v1/images/${'9'.repeat(64)}/json`, '/v1/repositories/a/b/c/images', '/v1/repositories/nope/tags',
      '/v1/repositories/secret/app/images', `/v1/images/${SECRET}/json`, '/',
    ]) {
      const response = await get(`${crane}${url}`);
      assert.deepEqual([response.status, await response.text()], [404, 'Not Found'], url);
    }
    const unknown = await get(`${crane}/v2/nope/tags/list`);
    assert.deepEqual([unknown.status, await errorCode(unknown)], [404, 'NAME_UNKNOWN']);
    assert.equal(await errorCode(await get(`${crane}/v2/acme/app`)), 'NOT_FOUND');
    assert.equal((await get(`${crane}/v1/%zz`)).status, 400);
    assert.equal((await get(`${crane}/v1/_ping`, { method: 'PUT' })).status, 405);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const write = await get(`${crane}/v2/acme/app/blobs/uploads/`, { method });
      assert.deepEqual([write.status, await errorCode(write), write.headers.get('allow')], [405, 'UNSUPPORTED', 'GET, HEAD'], method);
    }
    assert.equal((await get(`${crane}/v1/_ping`, { method: 'HEAD' })).status, 200);
  });

  it('skips a file Crane cannot load, and one without "repository", and serves the others', async (t) => {
    const dataDir = await tempDir(t);
    await writeJson(dataDir, 'ok.json', buildV1Redirect({ repository: 'r', registryId: 'r', url: 'http://x/', imageIds: [], tags: {} }));
    await writeJson(dataDir, 'broken.json', JSON.stringify({ version: 1, repository: 'b', 'repo-registry-id': 'b', url: 'http://x/', tags: {} }));
    await writeJson(dataDir, 'norepo.json', JSON.stringify({ version: 1, 'repo-registry-id': 'n', url: 'http://x/', images: [], tags: {} }));
    await writeJson(dataDir, 'bad.json', '{"version": 1,');
    const crane = await startServer({ source: await dirSnapshot(dataDir) });
    t.after(() => crane.close());
    assert.equal((await get(`${crane.url}/v1/repositories/r/tags`)).status, 200);
    assert.equal((await get(`${crane.url}/v1/repositories/b/tags`)).status, 404);
    assert.equal((await get(`${crane.url}/v1/repositories/n/tags`)).status, 404);
    assert.deepEqual(await (await get(`${crane.url}/_raas/ready`)).json(), { ready: true, source: 'dir', commit: null, repositories: 1 });
  });
});

const DIGEST = `sha256:${'d'.repeat(64)}`;
const AMD64 = `sha256:${'a'.repeat(64)}`;
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

const urls = new WeakMap<TestContext, string>();
const v2Url = async (t: TestContext): Promise<string> => urls.get(t)!;

async function v2Registry(t: TestContext) {
  const dataDir = await tempDir(t);
  const v2 = (id: string, version: number, extra: Record<string, unknown>) => ({
    type: 'pulp-docker-redirect', version, repository: id.replace('/', '-'), 'repo-registry-id': id, url: `https://store.example/${id}/v2`, protected: false, ...extra,
  });
  await writeJson(dataDir, 'acme-app@v2.json', v2('acme/app', 3, { schema2_data: ['1.0', DIGEST] }));
  await writeJson(dataDir, 'acme-app.json', buildV1Redirect({ repository: 'acme-app', registryId: 'acme/app', url: 'https://store.example/v1/', imageIds: [TOP], tags: { latest: TOP } }));
  await writeJson(dataDir, 'multi.json', v2('acme/multi', 4, { schema2_data: ['old'], manifest_list_data: ['latest'], manifest_list_amd64_tags: { latest: [AMD64, 2], legacy: [AMD64, 1] } }));
  await writeJson(dataDir, 'secret.json', { ...v2('acme/secret', 3, { schema2_data: ['1.0'] }), protected: true });
  await writeJson(dataDir, 'hashtags.json', v2('acme/hashtags', 3, { schema2_data: [] }));
  await writeJson(dataDir, 'words.json', v2('blobs/manifests', 3, { schema2_data: ['tags'] }));
  const crane = await startServer({ source: await dirSnapshot(dataDir) });
  t.after(() => crane.close());
  urls.set(t, crane.url);
  return async (path: string, accept?: string) => {
    const response = await get(`${crane.url}${path}`, accept ? { headers: { Accept: accept } } : {});
    return response.status === 302 ? response.headers.get('location') : response.status;
  };
}

describe('startServer over a data directory v2 API', () => {
  it('redirects blobs into the repository\'s url, kept apart from the v1 repository of the same name, and lists the tags the metadata names', async (t) => {
    const redirect = await v2Registry(t);
    assert.equal(await redirect(`/v2/acme/app/blobs/${DIGEST}`), `https://store.example/acme/app/v2/blobs/${DIGEST}`);
    assert.equal(await redirect('/v2/acme/app/tags/list'), 200);
    assert.deepEqual(await (await get(`${(await v2Url(t))}/v2/acme/multi/tags/list`)).json(), { name: 'acme/multi', tags: ['latest', 'legacy', 'old'] });
  });

  it('sends clients that accept schema 2 to manifests/2 for what schema2_data lists, everything else to manifests/1', async (t) => {
    const redirect = await v2Registry(t);
    const accept = `application/vnd.oci.image.manifest.v1+json, ${SCHEMA2};q=0.9, application/json`;
    assert.equal(await redirect('/v2/acme/app/manifests/1.0', accept), 'https://store.example/acme/app/v2/manifests/2/1.0');
    assert.equal(await redirect(`/v2/acme/app/manifests/${DIGEST}`, accept), `https://store.example/acme/app/v2/manifests/2/${DIGEST}`);
    assert.equal(await redirect('/v2/acme/app/manifests/2.0', accept), 'https://store.example/acme/app/v2/manifests/1/2.0');
    assert.equal(await redirect('/v2/acme/app/manifests/1.0'), 'https://store.example/acme/app/v2/manifests/1/1.0');
    assert.equal(await redirect('/v2/acme/app/manifests/1.0', 'application/vnd.oci.image.manifest.v1+json'), 'https://store.example/acme/app/v2/manifests/1/1.0');
  });

  it('serves version 4 manifest lists, and their amd64 image to clients that do not accept lists', async (t) => {
    const redirect = await v2Registry(t);
    assert.equal(await redirect('/v2/acme/multi/manifests/latest', `${LIST},${SCHEMA2}`), 'https://store.example/acme/multi/v2/manifests/list/latest');
    assert.equal(await redirect('/v2/acme/multi/manifests/latest', SCHEMA2), `https://store.example/acme/multi/v2/manifests/2/${AMD64}`);
    assert.equal(await redirect('/v2/acme/multi/manifests/latest'), 'https://store.example/acme/multi/v2/manifests/1/latest');
    assert.equal(await redirect('/v2/acme/multi/manifests/legacy'), `https://store.example/acme/multi/v2/manifests/1/${AMD64}`);
    assert.equal(await redirect('/v2/acme/multi/manifests/old', SCHEMA2), 'https://store.example/acme/multi/v2/manifests/2/old');
  });

  it('answers 404 for unknown and protected repositories, and serves names containing "tags", "blobs" or "manifests" (Crane 3.3 splits on whole segments)', async (t) => {
    const redirect = await v2Registry(t);
    assert.equal(await redirect('/v2/acme/secret/manifests/1.0', SCHEMA2), 404);
    assert.equal(await redirect('/v2/library/acme/app/tags/list'), 404);
    assert.equal(await redirect('/v2/acme/app/manifests/2/1.0'), 404);
    assert.equal(await redirect('/v2/acme/hashtags/manifests/1'), 'https://store.example/acme/hashtags/v2/manifests/1/1');
    assert.equal(await redirect('/v2/acme/hashtags/tags/list'), 200);
    assert.equal(await redirect(`/v2/blobs/manifests/blobs/${DIGEST}`), `https://store.example/blobs/manifests/v2/blobs/${DIGEST}`);
    assert.equal(await redirect('/v2/blobs/manifests/manifests/tags', SCHEMA2), 'https://store.example/blobs/manifests/v2/manifests/2/tags');
  });

  it('redirects a version 2 file\'s manifests to the path as asked', async (t) => {
    const { crane, store } = await registry(t);
    assert.equal((await get(`${crane}/v2/acme/app/manifests/latest`)).headers.get('location'), `${store}/v2/acme/manifests/latest`);
  });
});
