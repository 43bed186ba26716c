import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { InputError, OperationError } from '../../src/errors.ts';
import { createFileStore } from '../../src/storage/file.ts';
import { storeContract } from './contract.ts';

async function filesUnder(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

const tempDir = () => fs.mkdtemp(path.join(os.tmpdir(), 'raas-file-store-'));

storeContract('file', async () => {
  const root = await tempDir();
  const store = createFileStore({ root });
  return {
    store,
    read: (key) => fs.readFile(path.join(root, key)).catch(() => undefined),
    everything: () => filesUnder(root),
    close: () => fs.rm(root, { recursive: true, force: true }),
  };
});

describe('file store', () => {
  let root: string;
  before(async () => {
    root = await tempDir();
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('keeps bookkeeping out of listings, and removes an interrupted write only when asked for that very partial file', async () => {
    const store = createFileStore({ root: path.join(root, 'partial') });
    await store.put('app/layer', Buffer.from('layer'), { contentType: 'application/octet-stream' });
    const dir = path.join(root, 'partial', 'app');
    await fs.writeFile(path.join(dir, '.json.partial-0a1b2c'), 'half');
    await fs.writeFile(path.join(dir, '..json.sha256.partial-ff00'), 'half');

    assert.deepEqual([...(await store.list('')).keys()], ['app/layer']);
    await store.abortIncomplete('app/json', '.json.partial-0a1b2c');
    await store.abortIncomplete('app/json', '..json.sha256.partial-ff00');
    await store.abortIncomplete('app/json', '.json.partial-0a1b2c'); // already gone: no error
    for (const id of ['.layer.sha256', 'layer', '.json.partial-0a1b2c/../../x', '.other.partial-00']) {
      await assert.rejects(store.abortIncomplete('app/layer', id), InputError, id);
    }
    assert.deepEqual((await filesUnder(path.join(root, 'partial'))).sort(), ['app/.layer.sha256', 'app/layer']);
  });

  it('copies by hard link', async () => {
    const store = createFileStore({ root: path.join(root, 'link') });
    await store.put('a/x', Buffer.from('shared'), { contentType: 'text/plain' });
    await store.copy('a/x', 'b/y');
    const [a, b] = await Promise.all([fs.stat(path.join(root, 'link', 'a', 'x')), fs.stat(path.join(root, 'link', 'b', 'y'))]);
    assert.equal(a.ino, b.ino);
  });

  it('says when the directory is missing, and creates it only when asked', async () => {
    const missing = path.join(root, 'missing', 'store');
    const store = createFileStore({ root: missing });
    await assert.rejects(store.check({ write: false }), (err: unknown) => {
      assert.ok(err instanceof OperationError);
      assert.match(err.describe(), /does not exist[\s\S]*raas setup --create/);
      return true;
    });
    await store.ensure();
    await store.check({ write: true });
  });

  it('says when the directory is not writable', { skip: process.getuid?.() === 0 && 'root writes anywhere' }, async () => {
    const readOnly = path.join(root, 'read-only');
    await fs.mkdir(readOnly, { mode: 0o555 });
    const store = createFileStore({ root: readOnly });
    await store.check({ write: false });
    await assert.rejects(store.check({ write: true }), /not writable/);
  });

  it('publishes file:// URLs unless told a web server URL', () => {
    const store = createFileStore({ root: path.join(root, 'urls') });
    assert.equal(store.location, `${pathToFileURL(path.join(root, 'urls')).href}/`);
    assert.equal(store.publicUrl('acme/app/'), `${pathToFileURL(path.join(root, 'urls')).href}/acme/app/`);
    const served = createFileStore({ root, publicUrl: 'https://cdn.example.com/registry' });
    assert.equal(served.publicUrl('acme/app/'), 'https://cdn.example.com/registry/acme/app/');
  });

  it('leaves nothing behind when a put is aborted', async () => {
    const store = createFileStore({ root: path.join(root, 'abort') });
    const controller = new AbortController();
    const endless = {
      size: 1 << 30,
      open: () =>
        Readable.from(
          (async function* () {
            for (;;) {
              yield randomBytes(64 * 1024);
              await new Promise((resolve) => setImmediate(resolve));
            }
          })(),
        ),
    };
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(store.put('big/layer', endless, { contentType: 'x', signal: controller.signal }), { name: 'AbortError' });
    assert.deepEqual(await filesUnder(path.join(root, 'abort')), []);
  });
});
