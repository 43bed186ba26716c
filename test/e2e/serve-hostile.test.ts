import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { startServer } from '../../src/serve/server.ts';
import { dirSource } from '../../src/serve/source.ts';
import { createFileStore } from '../../src/storage/file.ts';
import { makeExample } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';
import { startServe } from '../helpers/serve.ts';
import { makeWorld } from '../helpers/world.ts';

/**
 * Requests no client sends: each gets its status, nothing outside the store is ever read,
 * and raas serve answers normally afterwards. Sent over raw sockets, byte for byte.
 */

/** One raw request; the status line's code (0: the connection closed without one) and the whole answer. */
async function raw(url: string, request: string | Buffer, options: { timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${options.timeoutMs ?? 5000} ms to ${JSON.stringify(String(request).slice(0, 80))}`));
    }, options.timeoutMs ?? 5000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.write(request);
  });
}

const get = (target: string, headers = '') => `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`;

test('hostile request targets get 400/405/414/431, reach nothing outside the store, and raas serve keeps serving', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const example = await makeExample({ dir: world.root, format: 'oci-archive', layers: 1, tag: '1.0' });
  const run = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const digest = JSON.parse(run.stdout).v2.manifests['1.0'];
  // Outside the store: a secret, and a link to it planted where a blob would be.
  const secret = path.join(world.root, 'secret');
  await writeFile(secret, 'SECRET-CONTENT');
  const planted = `sha256:${'5'.repeat(64)}`;
  await symlink(secret, path.join(world.storageDir, 'acme-app/v2/blobs', planted));
  const served = await startServe(t, world);
  await served.ready();

  const cases: [string, string | Buffer, number][] = [
    ['encoded CR/LF in a blob path', get('/v2/acme/app/blobs/sha256:%0d%0aSet-Cookie:%20x=1'), 400],
    ['encoded CR/LF in a tag', get('/v2/acme/app/manifests/1.0%0d%0aX-Injected:%201'), 400],
    ['encoded NUL in a name', get('/v2/acme%00/app/tags/list'), 400],
    ['encoded control character in v1', get('/v1/images/%07/json'), 400],
    ['raw CR in the path', get('/v2/acme/app\r/tags/list'), 400],
    ['raw control character in the path', Buffer.from(get('/v2/acme/\u0001app/tags/list'), 'latin1'), 400],
    ['raw ..', get('/v2/../../../etc/passwd'), 400],
    ['encoded ..', get('/v2/acme/app/blobs/%2e%2e/%2e%2e/%2e%2e/secret'), 400],
    ['encoded / in a digest', get('/v2/acme/app/blobs/..%2f..%2f..%2fsecret'), 400],
    ['encoded backslash', get('/v2/acme/app/blobs/..%5c..%5csecret'), 400],
    ['v1 traversal', get('/v1/images/..%2f..%2f..%2fsecret/json'), 400],
    ['malformed percent-encoding', get('/v2/acme/app/manifests/%zz'), 400],
    ['a digest of another form', get('/v2/acme/app/blobs/sha256:../../secret'), 400],
    ['absolute-form target', get('http://evil.example/v2/'), 400],
    ['a write', `PUT /v2/acme/app/manifests/1.0 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`, 405],
    ['a delete', `DELETE /v2/acme/app/blobs/sha256:${'0'.repeat(64)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 405],
    ['a long target', get(`/v2/acme/app/manifests/${'a'.repeat(5000)}`), 414],
    ['a target beyond the header limit', get(`/v2/${'a/'.repeat(10_000)}tags/list`), 431],
    ['a huge header', get('/v2/', `X-Big: ${'b'.repeat(20_000)}\r\n`), 431],
    ['not HTTP at all', 'HELLO THERE\r\n\r\n', 400],
  ];
  for (const [name, request, status] of cases) {
    const answer = await raw(served.url, request);
    assert.equal(answer.status, status, `${name}: ${answer.text.slice(0, 200)}`);
    assert.doesNotMatch(answer.text, /SECRET-CONTENT|root:|X-Injected|Set-Cookie/i, name);
  }
  // A link inside the store to a file outside it is not followed.
  const link = await fetch(`${served.url}/v2/acme/app/blobs/${planted}`);
  assert.equal(link.status, 404);
  assert.doesNotMatch(await link.text(), /SECRET/);
  const linkHead = await fetch(`${served.url}/v2/acme/app/blobs/${planted}`, { method: 'HEAD' });
  assert.deepEqual([linkHead.status, linkHead.headers.get('content-length') === String('SECRET-CONTENT'.length)], [404, false]);

  const after = await fetch(`${served.url}/v2/acme/app/manifests/${digest}`);
  assert.equal(after.status, 200);
  assert.equal(after.headers.get('docker-content-digest'), digest);
  assert.match(served.stderr(), /"GET \/v2\/acme\/app\/blobs\/sha256:%0d%0aSet-Cookie:%20x=1" 400/);
  assert.equal(await served.stop(), 0);
});

test('clients too slow to send a request, or idle on a kept-alive connection, are disconnected', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'data'));
  const source = dirSource({ dir: path.join(dir, 'data'), pollMs: 60_000, logger: pino({ level: 'silent' }) });
  source.start();
  t.after(() => source.close());
  const server = await startServer({
    source, store: { store: createFileStore({ root: dir }), presignSeconds: 60 },
    limits: { headersTimeout: 500, requestTimeout: 800, keepAliveTimeout: 300, connectionsCheckingInterval: 100, idleSocketMs: 1_000 },
  });
  t.after(() => server.close());
  // Headers never finished: 408, then closed.
  const slow = await raw(server.url, 'GET /v2/ HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 5_000 });
  assert.equal(slow.status, 408);
  // Answered, then idle on keep-alive: closed by the server (the close resolves raw()).
  const idle = await raw(server.url, 'GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5_000 });
  assert.equal(idle.status, 200);
  // Connected and silent: closed too.
  const silent = await raw(server.url, '', { timeoutMs: 5_000 });
  assert.ok(silent.status === 0 || silent.status === 408, silent.text);
  assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
});
