import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { maskedLayersFromCraneFiles, partitionMasked } from '../../src/image/mask.ts';
import { readArchive } from '../../src/image/read.ts';
import { makeExample } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('masking', () => {
  it('collects the image ids of Crane v1 redirect files, with where their host serves each layer, and skips later versions', () => {
    const v1 = JSON.stringify({ type: 'pulp-docker-redirect', version: 1, images: [{ id: A }, { id: B }], tags: { latest: B } });
    const v2 = JSON.stringify({ type: 'pulp-docker-redirect', version: 2, url: 'https://x/' });
    assert.deepEqual([...maskedLayersFromCraneFiles([v1, { name: 'rhel.json', text: v2 }])], [[A, undefined], [B, undefined]]);
    const hosted = JSON.stringify({ version: 1, url: 'https://cdn.example/rhel7/', images: [{ id: A }] });
    assert.deepEqual([...maskedLayersFromCraneFiles([hosted])], [[A, `https://cdn.example/rhel7/${A}/layer`]]);
  });

  it('names the redirect file that is broken', () => {
    assert.throws(
      () => maskedLayersFromCraneFiles([{ name: 'redhat/metadata/rhel7.json', text: JSON.stringify({ version: 1, images: [{ id: 'short' }] }) }]),
      (err: unknown) => err instanceof InputError && err.where === 'redhat/metadata/rhel7.json' && /"images"\[0\]/.test(err.message),
    );
    assert.throws(() => maskedLayersFromCraneFiles([{ name: 'x.json', text: '{' }]), /not valid JSON/);
  });

  it('partitions by v1 id, layer digest or diff_id, keeping the order', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'oci-archive', layers: 4 });
    const repo = await readArchive(example.file, { workDir: path.join(dir, 'work') });
    const [i0, i1, i2, i3] = repo.images;
    const { upload, masked } = partitionMasked(repo, [i0!.id, i1!.layerDigest!, i2!.diffId!.slice(7).toUpperCase()]);
    assert.deepEqual(masked.map((i) => i.id), [i0!.id, i1!.id, i2!.id]);
    assert.deepEqual(upload.map((i) => i.id), [i3!.id]);
    assert.deepEqual(partitionMasked(repo, new Set()).upload, repo.images);
  });
});
