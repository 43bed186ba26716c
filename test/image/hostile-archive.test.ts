import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import { resolveLimits } from '../../src/image/limits.ts';
import { readArchive } from '../../src/image/read.ts';
import { TarIndex } from '../../src/image/tar-index.ts';
import { writeTar } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';
import { sparsePulpExport, tarDialectCases } from '../helpers/hostile-archive.ts';

/** Issue 12, classes 3 and 8 at the reader's level (the CLI runs are in test/e2e/reliability-hostile-archive.test.ts). */
describe('tar dialects readers disagree on', () => {
  for (const c of tarDialectCases) {
    it(`refuses ${c.name}`, async (t) => {
      const root = await tempDir(t);
      const file = path.join(root, `${c.name}.tar`);
      await c.write(file);
      const workDir = path.join(root, 'work');
      const err: unknown = await readArchive(file, { workDir, limits: c.limits }).then(() => assert.fail('accepted'), (e: unknown) => e);
      assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
      assert.ok(err.message.includes(c.expect), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(c.expect)}`);
      if (c.entry) assert.ok(err.message.includes(c.entry), `message ${JSON.stringify(err.message)} does not name ${JSON.stringify(c.entry)}`);
      assert.deepEqual(await readdir(workDir).catch(() => []), []);
    });
  }
});

describe('long phases take the abort signal', () => {
  it('indexing stops when the signal fires', async (t) => {
    const dir = await tempDir(t);
    const file = await writeTar(path.join(dir, 'many.tar'), Array.from({ length: 20_000 }, (_, i) => ({ path: `f${i}`, body: '' })));
    const controller = new AbortController();
    const opening = TarIndex.open(file, path.join(dir, 'work'), resolveLimits(), controller.signal);
    setTimeout(() => controller.abort(new Error('SIGINT')), 5);
    await assert.rejects(opening, /SIGINT/);
  });

  it('hashing a layer stops when the signal fires', async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'sparse.tar');
    await sparsePulpExport(file, 4096);
    await mkdir(path.join(dir, 'work'));
    const repo = await readArchive(file, { workDir: path.join(dir, 'work') });
    const controller = new AbortController();
    const started = Date.now();
    const hashing = layerDigester(undefined, undefined, controller.signal)(repo.images.find((i) => i.layer.size > 1024)!);
    setTimeout(() => controller.abort(new Error('SIGTERM')), 50);
    await assert.rejects(hashing, /SIGTERM/);
    // 4 GiB cannot be hashed in this time; the pass ended at the signal, not at the end.
    t.diagnostic(`hashing a 4 GiB layer stopped ${Date.now() - started} ms after it started`);
  });
});
