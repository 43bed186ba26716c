import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { readArchive } from '../../src/image/read.ts';
import { verifyLayers } from '../../src/image/verify.ts';
import { tempDir } from '../helpers/git.ts';
import { hostileCases } from '../helpers/hostile.ts';

/** Every file under `dir`, relative to it. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('hostile archives', () => {
  it('has a corpus of at least 30 distinct cases', () => {
    assert.ok(hostileCases.length >= 30);
    assert.equal(new Set(hostileCases.map((c) => c.name)).size, hostileCases.length);
  });

  for (const c of hostileCases) {
    it(`refuses ${c.name}`, async (t) => {
      const root = await tempDir(t);
      const workDir = path.join(root, 'work');
      await mkdir(path.join(root, 'in'));
      const file = path.join(root, 'in', `${c.name}.tar`);
      await c.write(file);

      const attempt = async () => {
        const repo = await readArchive(file, { workDir, limits: c.limits });
        if (c.stage !== 'verify') assert.fail(`read ${repo.images.length} images from a hostile archive`);
        await verifyLayers(repo.images, { concurrency: 2 });
      };
      const err: unknown = await attempt().then(
        () => assert.fail('accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
      assert.ok(err.message.includes(c.expect), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(c.expect)}`);
      if (c.entry) assert.ok(err.message.includes(c.entry), `message ${JSON.stringify(err.message)} does not name ${JSON.stringify(c.entry)}`);
      assert.ok(err.where?.startsWith(file), `where ${JSON.stringify(err.where)} does not name the archive`);

      // Nothing but the archive outside workDir, and nothing left inside it after a refusal.
      const files = await listFiles(root);
      assert.deepEqual(files.filter((f) => !f.startsWith(`work${path.sep}`)), [path.join('in', `${c.name}.tar`)]);
      if (c.stage !== 'verify') assert.deepEqual(files.filter((f) => f.startsWith(`work${path.sep}`)), []);
    });
  }
});
