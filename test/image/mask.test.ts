import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { gzipSync } from 'node:zlib';
import { sha256Hex, toDigest } from '../../src/image/digest.ts';
import type { HostedBlob } from '../../src/image/hosted.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import { maskedLayersFromCraneFiles, partitionMasked, type LayerKeys } from '../../src/image/mask.ts';
import type { ImageRepository, V1Image } from '../../src/image/model.ts';
import { readArchive } from '../../src/image/read.ts';
import { makeExample, randomLayer } from '../helpers/archives.ts';
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

  const noHashing = async (): Promise<never> => assert.fail('no layer needs hashing');
  const hashing = (repo: ImageRepository) => {
    const digests = layerDigester();
    const hashed: string[] = [];
    const keysOf = async (image: V1Image): Promise<LayerKeys> => {
      hashed.push(image.id);
      const read = await digests(image);
      return { layerDigest: image.layerDigest ?? toDigest(read.sha256), diffId: image.diffId ?? read.diffId ?? toDigest(read.sha256) };
    };
    return { keysOf, hashed, repo };
  };
  const none = { v1: new Map(), listed: [], hosted: [] };

  it('partitions by v1 id, layer digest or diff_id, keeping the order', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'oci-archive', layers: 4 });
    const repo = await readArchive(example.file, { workDir: path.join(dir, 'work') });
    const [i0, i1, i2, i3] = repo.images;
    const { upload, masked } = await partitionMasked(repo, { ...none, listed: [i0!.id, i1!.layerDigest!, i2!.diffId!.slice(7).toUpperCase()] }, noHashing);
    assert.deepEqual([...masked.keys()], [i0!.id, i1!.id, i2!.id]);
    assert.deepEqual([...masked.values()], [undefined, undefined, undefined], 'only the mask list names them: no host is known');
    assert.deepEqual(upload.map((i) => i.id), [i3!.id]);
    assert.deepEqual((await partitionMasked(repo, none, noHashing)).upload, repo.images);
  });

  it('matches the same base layer by content in every export format, and gives the host\'s blob however it matched', async (t) => {
    const dir = await tempDir(t);
    const [base, own] = [randomLayer(), randomLayer()];
    const gzipped = gzipSync(base.tar);
    const blob: HostedBlob = { url: `https://cdn.example/rhel7/blobs/${toDigest(sha256Hex(gzipped))}`, digest: toDigest(sha256Hex(gzipped)), size: gzipped.length, diffId: base.diffId, compression: 'gzip' };
    const v1Url = 'https://cdn.example/rhel7/some-v1-id/layer';
    for (const format of ['oci-archive', 'docker-archive', 'pulp'] as const) {
      const example = await makeExample({ dir, format, layers: [base, own] });
      const { keysOf, hashed, repo } = hashing(await readArchive(example.file, { workDir: path.join(dir, `work-${format}`) }));
      const [b, o] = repo.images as [V1Image, V1Image];
      // The base party's v1 file names another v1 id: only the content can match.
      const { upload, masked } = await partitionMasked(repo, { v1: new Map([['c'.repeat(64), v1Url]]), listed: [], hosted: [blob] }, keysOf);
      assert.deepEqual(upload.map((i) => i.id), [o.id], format);
      assert.deepEqual([...masked], [[b.id, blob]], `${format}: masked, with the host's blob`);
      // Only a Pulp export declares no digests: its layers are hashed, the others never.
      assert.deepEqual(hashed, format === 'pulp' ? [b.id, o.id] : [], `${format}: layers hashed`);

      // Named by the mask list (here by diff_id), the layer still gets the host the v2 metadata knows.
      const listed = await partitionMasked(repo, { v1: new Map(), listed: [base.diffId], hosted: [blob] }, hashing(repo).keysOf);
      assert.deepEqual([...listed.masked], [[b.id, blob]], `${format}: by mask_layers`);
      // Named by v1 id in a v1 file and hosted in v2 too: the v2 blob is the host for v2 clients.
      const byId = await partitionMasked(repo, { v1: new Map([[b.id, v1Url]]), listed: [], hosted: [blob] }, hashing(repo).keysOf);
      assert.deepEqual([...byId.masked], [[b.id, blob]], `${format}: by v1 id`);
      const v1Only = await partitionMasked(repo, { v1: new Map([[b.id, v1Url]]), listed: [], hosted: [] }, noHashing);
      assert.deepEqual([...v1Only.masked], [[b.id, v1Url]], `${format}: v1 file only`);
    }
  });

  it('hashes a Pulp export\'s layers only when a content mask could name them', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'pulp', layers: 2 });
    const { keysOf, hashed, repo } = hashing(await readArchive(example.file, { workDir: path.join(dir, 'work') }));
    const byId = await partitionMasked(repo, { ...none, listed: [example.ids[0]!] }, keysOf);
    assert.deepEqual([...byId.masked.keys()], [example.ids[0]]);
    assert.deepEqual(hashed, [], 'every listed mask matched a v1 id');
    const byDigest = await partitionMasked(repo, { ...none, listed: [example.layers[1]!.diffId] }, keysOf);
    assert.deepEqual([...byDigest.masked.keys()], [example.ids[1]]);
    assert.deepEqual(hashed, example.ids);
  });

  it('refuses a layer the archive and the base party give different diff_ids', async (t) => {
    const dir = await tempDir(t);
    const example = await makeExample({ dir, format: 'oci-archive', layers: 2 });
    const repo = await readArchive(example.file, { workDir: path.join(dir, 'work') });
    const b = repo.images[0]!;
    const lying: HostedBlob = { url: `https://cdn.example/blobs/${b.layerDigest}`, digest: b.layerDigest!, size: b.layer.size, diffId: toDigest('d'.repeat(64)), compression: 'gzip' };
    await assert.rejects(partitionMasked(repo, { ...none, hosted: [lying] }, noHashing), (err: unknown) => err instanceof InputError && err.message.includes(`has diff_id ${b.diffId} in the archive, but ${lying.diffId}`));
  });
});
