import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { InputError, IntegrityError } from '../../src/errors.ts';
import type { Store } from '../../src/storage/store.ts';
import { bufferBlob, sha256 } from './blob.ts';

export interface Harness {
  readonly store: Store;
  /** The bytes at `key`, read around the store; undefined when there is no such object. */
  read(key: string): Promise<Buffer | undefined>;
  /** Every name the backend holds, bookkeeping included (bucket keys, or paths under the root). */
  everything(): Promise<string[]>;
  close(): Promise<void>;
}

const OCTETS = { contentType: 'application/octet-stream' };

/** What every Store must do, whatever holds the bytes. Each test works under its own key prefix. */
export function storeContract(name: string, open: () => Promise<Harness>): void {
  describe(`${name} store contract`, () => {
    let h: Harness;
    before(async () => {
      h = await open();
    });
    after(() => h.close());

    it('puts a Buffer and records its size and sha256', async () => {
      const data = Buffer.from('{"id":"abc"}');
      const result = await h.store.put('buf/json', data, { contentType: 'application/json' });
      assert.deepEqual(result, { size: data.length, sha256: sha256(data) });
      assert.deepEqual(await h.store.stat('buf/json'), { size: data.length, sha256: sha256(data) });
      assert.deepEqual(await h.read('buf/json'), data);
      assert.equal((await h.store.list('buf/')).get('buf/json')?.size, data.length);
    });

    it('streams a Blob, reporting progress', async () => {
      const data = randomBytes(300 * 1024 + 7);
      let progress = 0;
      const result = await h.store.put('blob/layer', bufferBlob(data), { ...OCTETS, onProgress: (n) => (progress += n) });
      assert.deepEqual(result, { size: data.length, sha256: sha256(data) });
      assert.equal(progress, data.length);
      assert.deepEqual(await h.read('blob/layer'), data);
      assert.equal((await h.store.stat('blob/layer'))?.sha256, sha256(data));
    });

    it('puts an empty object', async () => {
      assert.equal((await h.store.put('empty/x', Buffer.alloc(0), OCTETS)).size, 0);
      assert.deepEqual(await h.store.stat('empty/x'), { size: 0, sha256: sha256(Buffer.alloc(0)) });
    });

    it('accepts the right declared sha256 and leaves nothing behind on the wrong one', async () => {
      const data = randomBytes(100_000);
      await h.store.put('digest/good', bufferBlob(data), { ...OCTETS, sha256: sha256(data).toUpperCase() });
      assert.equal((await h.store.stat('digest/good'))?.size, data.length);

      const wrong = sha256(Buffer.from('something else'));
      for (const body of [data, bufferBlob(data)]) {
        await assert.rejects(h.store.put('digest/bad', body, { ...OCTETS, sha256: wrong }), (err: unknown) => {
          assert.ok(err instanceof IntegrityError);
          assert.match(err.describe(), /digest\/bad/);
          return true;
        });
      }
      assert.equal(await h.store.stat('digest/bad'), undefined);
      assert.deepEqual([...(await h.store.list('digest/')).keys()], ['digest/good']);
      assert.deepEqual((await h.everything()).filter((n) => n.includes('bad')), []);
    });

    it('replaces an object whole', async () => {
      await h.store.put('again/x', Buffer.from('first'), OCTETS);
      await h.store.put('again/x', Buffer.from('second!'), OCTETS);
      assert.deepEqual(await h.read('again/x'), Buffer.from('second!'));
      assert.deepEqual(await h.store.stat('again/x'), { size: 7, sha256: sha256(Buffer.from('second!')) });
    });

    it('copies with the checksum', async () => {
      const data = randomBytes(5000);
      await h.store.put('copy/from', data, OCTETS);
      await h.store.copy('copy/from', 'copy/deeper/to');
      assert.deepEqual(await h.read('copy/deeper/to'), data);
      assert.deepEqual(await h.store.stat('copy/deeper/to'), { size: data.length, sha256: sha256(data) });
      await assert.rejects(h.store.copy('copy/missing', 'copy/other'));
    });

    it('deletes, and deleting what is gone is fine', async () => {
      await h.store.put('del/x', Buffer.from('x'), OCTETS);
      await h.store.delete('del/x');
      assert.equal(await h.store.stat('del/x'), undefined);
      assert.equal(await h.read('del/x'), undefined);
      await h.store.delete('del/x');
      assert.equal((await h.store.list('del/')).size, 0);
    });

    it('lists keys relative to the root, by string prefix', async () => {
      for (const key of ['ls/a/1', 'ls/a/2', 'ls/ab/3', 'ls/b/4']) await h.store.put(key, Buffer.from(key), OCTETS);
      const keys = async (prefix: string) => [...(await h.store.list(prefix)).keys()].sort();
      assert.deepEqual(await keys('ls/a/'), ['ls/a/1', 'ls/a/2']);
      assert.deepEqual(await keys('ls/a'), ['ls/a/1', 'ls/a/2', 'ls/ab/3']);
      assert.deepEqual(await keys('ls/'), ['ls/a/1', 'ls/a/2', 'ls/ab/3', 'ls/b/4']);
      assert.deepEqual(await keys('ls/zz/'), []);
      assert.ok((await keys('')).includes('ls/b/4'));
      assert.equal((await h.store.list('ls/a/')).get('ls/a/1')?.size, 'ls/a/1'.length);
    });

    it('refuses keys that could escape the root or clash with bookkeeping', async () => {
      for (const key of ['../x', '/abs', 'a//b', 'a/../../b', '.hidden', 'a/.x.sha256', 'a\\b', 'a/', '']) {
        await assert.rejects(h.store.put(key, Buffer.from('x'), OCTETS), InputError, key);
        await assert.rejects(h.store.stat(key), InputError, key);
      }
      await assert.rejects(h.store.copy('ok', '../x'), InputError);
      await assert.rejects(h.store.list('../'), InputError);
      await assert.rejects(h.store.abortIncomplete('a/../../x', '.x.partial-00'), InputError);
    });

    it('publishes URLs that end with "/" when the key prefix does', () => {
      assert.ok(h.store.publicUrl('acme/app/').endsWith('/acme/app/'));
      assert.ok(h.store.publicUrl('').endsWith('/'));
    });

    it('reads a small object whole, refuses one over the bound, and says undefined for a missing one', async () => {
      const data = Buffer.from('{"schemaVersion":2}');
      await h.store.put('read/m', data, { contentType: 'application/vnd.docker.distribution.manifest.v2+json' });
      const got = await h.store.read('read/m', { maxBytes: 1024 });
      assert.deepEqual(got?.body, data);
      // Stores that record a type give it back; the file store records none.
      assert.ok(got?.contentType === undefined || got.contentType === 'application/vnd.docker.distribution.manifest.v2+json', got?.contentType);
      await assert.rejects(h.store.read('read/m', { maxBytes: data.length - 1 }), /more than/);
      assert.equal(await h.store.read('read/none', { maxBytes: 1024 }), undefined);
    });

    it('streams an object, or a byte range of it', async () => {
      const data = randomBytes(200_000);
      await h.store.put('open/blob', data, OCTETS);
      const all = await h.store.openRead('open/blob');
      assert.deepEqual(Buffer.concat(await all!.toArray()), data);
      const part = await h.store.openRead('open/blob', { start: 1000, end: 150_999 });
      assert.deepEqual(Buffer.concat(await part!.toArray()), data.subarray(1000, 151_000));
      assert.equal(await h.store.openRead('open/none'), undefined);
    });

    it('checks that it can read and write, leaving nothing behind', async () => {
      await h.store.check({ write: false });
      await h.store.check({ write: true });
      assert.deepEqual((await h.everything()).filter((n) => n.includes('raas-check')), []);
    });
  });
}
