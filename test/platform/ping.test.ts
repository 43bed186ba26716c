import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { checkRegistry } from '../../src/platform/ping.ts';
import { startServer } from '../../src/serve/server.ts';
import { dirSnapshot } from '../../src/serve/source.ts';
import { tempDir } from '../helpers/git.ts';

async function serve(t: TestContext, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe('checkRegistry', () => {
  it('sees a Crane registry answer both APIs', async (t) => {
    const dataDir = await tempDir(t);
    await writeFile(path.join(dataDir, 'r.json'), JSON.stringify({ version: 1, 'repo-registry-id': 'r', url: 'http://x/', images: [], tags: {} }));
    const crane = await startServer({ source: await dirSnapshot(dataDir) });
    t.after(() => crane.close());
    const result = await checkRegistry(crane.url);
    assert.deepEqual(result, { url: crane.url, v1: true, v2: true, attempts: 1, detail: '/v1/_ping: true; /v2/: HTTP 200' });
  });

  it('waits for a registry that is still starting', async (t) => {
    let calls = 0;
    const url = await serve(t, (req, res) => {
      if (req.url === '/v1/_ping' && ++calls > 2) res.writeHead(200).end('true');
      else res.writeHead(req.url === '/v2/' ? 404 : 503).end('starting');
    });
    const result = await checkRegistry(url, { attempts: 5, delayMs: 10 });
    assert.deepEqual([result.v1, result.v2, result.attempts], [true, undefined, 3]);
    assert.equal(result.detail, '/v1/_ping: true; /v2/: not served');
  });

  it('reports a registry that is down, after the rounds it was given, without throwing', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await checkRegistry(closed, { attempts: 3, delayMs: 5 });
    assert.deepEqual([result.v1, result.v2, result.attempts], [false, false, 3]);
    assert.match(result.detail, /\/v1\/_ping: ECONNREFUSED; \/v2\/: ECONNREFUSED/);
  });

  it('does not take just any 200 for a registry, and names a request that timed out', async (t) => {
    const url = await serve(t, (req, res) => {
      if (req.url === '/v2/') return; // never answers
      res.writeHead(200).end('<html>hello</html>');
    });
    const result = await checkRegistry(url, { timeoutMs: 100 });
    assert.equal(result.v1, false);
    assert.equal(result.detail, '/v1/_ping: HTTP 200 "<html>hello</html>"; /v2/: no answer within 100 ms');
  });

  it('stops waiting when aborted', async (t) => {
    const url = await serve(t, (_req, res) => res.writeHead(503).end());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const result = await checkRegistry(url, { attempts: 100, delayMs: 1000, signal: controller.signal });
    assert.equal(result.v1, false);
    assert.ok(Date.now() - started < 900);
  });

  it('keeps credentials in the URL out of the result', async (t) => {
    const result = await checkRegistry('http://user:pa55word@127.0.0.1:9/');
    assert.doesNotMatch(result.detail, /pa55word/);
  });
});
