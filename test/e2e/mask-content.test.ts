import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { startServer } from '../../src/serve/server.ts';
import { dirSnapshot } from '../../src/serve/source.ts';
import { makeExample, randomLayer } from '../helpers/archives.ts';
import { startV2BaseParty } from '../helpers/base-party.ts';
import { git, tempDir } from '../helpers/git.ts';
import { makeWorld } from '../helpers/world.ts';

/**
 * Masks match by content: one image, with a base another party hosts, exported three ways
 * (v1 ids differ between them) and pushed against a base party that publishes only v2
 * metadata. The base layer is uploaded in none of them, and skopeo fetches it from the
 * base party, as the blob its manifest names.
 */

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const skopeo = (...args: string[]) => execa('skopeo', ['--insecure-policy', ...args], { encoding: 'buffer' });

test('the same masked base in a docker-archive, an oci-archive and a Pulp export is never uploaded, and clients fetch it from the base party', async (t) => {
  const [base, own] = [randomLayer(), randomLayer()];
  const party = await startV2BaseParty(t, { tars: [base.tar] });
  const hosted = party.layers[0]!;
  assert.equal(hosted.digest, `sha256:${sha256(gzipSync(base.tar))}`);
  const world = await makeWorld(t, { storage: 's3', baseMetadata: { 'rhel8@v2.json': party.metadata } });
  const dir = await tempDir(t);
  const formats = ['docker-archive', 'oci-archive', 'pulp'] as const;
  const pushed = new Map<string, string>();
  for (const format of formats) {
    const image = `acme/${format.replace('-archive', '')}`;
    const example = await makeExample({ dir, format, layers: [base, own], name: image });
    const run = await world.raas(['push', 'acme', image, '--file', example.file, '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).masked, [example.ids[0]], `${format}: the base layer is masked`);
    assert.match(run.stderr, new RegExp(`masked layer ${example.ids[0]} is listed in no base-image v1 metadata file: Docker v1 clients cannot fetch it`));
    pushed.set(format, image);
  }
  assert.notEqual(new Set(formats.map((f) => pushed.get(f))).size, 1);

  // No object holds the base layer, compressed or not.
  const objects = await world.objects();
  const baseHashes = new Set([sha256(base.tar), sha256(gzipSync(base.tar))]);
  assert.deepEqual([...objects].filter(([, hash]) => baseHashes.has(hash)).map(([key]) => key), []);
  assert.ok([...objects.values()].includes(sha256(own.tar)), 'the own layer is stored');

  const checkout = await tempDir(t, 'raas-crane-');
  await git(checkout, 'clone', '-q', world.craneRemote, 'app');
  const crane = await startServer({ source: await dirSnapshot(path.join(checkout, 'app', 'crane/data')) });
  t.after(() => crane.close());
  const registry = new URL(crane.url).host;
  for (const format of formats) {
    const reference = `docker://${registry}/${pushed.get(format)}:latest`;
    const manifest = JSON.parse(Buffer.from((await skopeo('inspect', '--raw', '--tls-verify=false', reference)).stdout).toString());
    // The host's blob, whatever compression the archive gave the layer.
    assert.deepEqual(manifest.layers[0], {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', size: hosted.size, digest: hosted.digest, urls: [`${party.url}blobs/${hosted.digest}`],
    }, format);
    const before = party.requests.length;
    // A dir: destination takes no foreign layers: skopeo fetches the base layer from its host, and checks its digest.
    const pulled = await tempDir(t, 'raas-pulled-');
    await skopeo('copy', '--quiet', '--src-tls-verify=false', reference, `dir:${pulled}`);
    assert.deepEqual(party.requests.slice(before), [hosted.path], `${format}: fetched from the base party`);
    const layers = await Promise.all(manifest.layers.map((l: { digest: string }) => readFile(path.join(pulled, l.digest.slice('sha256:'.length)))));
    assert.deepEqual(layers.map((l) => (l[0] === 0x1f ? gunzipSync(l) : l)), [base.tar, own.tar], `${format}: layer bytes`);
  }
});
