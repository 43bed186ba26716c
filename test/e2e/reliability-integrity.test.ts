import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { dockerSaveEntries, ociEntries, ociFiles, randomLayer, writeTar, type TarEntrySpec } from '../helpers/archives.ts';
import { assertConsistent, startGateProxy, type GateProxy } from '../helpers/reliability.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * Issue 5, part 6: a layer whose bytes do not match the digest its archive declares is an
 * error before anything is uploaded or referenced: exit 2, the layer and its digest
 * named, no request that writes reaches storage (a recording proxy sees every request),
 * nothing deployed. And bytes that change after they were verified (the archive is
 * modified during the upload) are caught by the store's own check: nothing is stored
 * at that key and nothing is deployed.
 */

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const WRITES = new Set(['PUT', 'POST', 'DELETE']);

async function recorded(t: Parameters<typeof startGateProxy>[0], world: World): Promise<GateProxy> {
  const proxy = await startGateProxy(t, world.s3!.endpoint);
  await world.useEndpoint(proxy.endpoint);
  return proxy;
}

/** Archives of three formats whose second layer's bytes are not what the archive says they are. */
function tampered(): { name: string; entries: TarEntrySpec[]; digest: string }[] {
  const out: { name: string; entries: TarEntrySpec[]; digest: string }[] = [];
  // OCI: the blob named sha256:X holds other bytes.
  {
    const { files, image } = ociFiles({ layers: [randomLayer(2048), randomLayer(2048)], tag: 'latest', gzip: true });
    const digest = image.layerDigests[1]!;
    const blob = `blobs/sha256/${digest.slice(7)}`;
    files.set(blob, randomBytes(files.get(blob)!.length));
    out.push({ name: 'oci-archive', entries: ociEntries(files), digest });
  }
  // docker save (1.10 to 24): an uncompressed layer.tar whose sha256 is not its diff_id.
  {
    const layers = [randomLayer(2048), randomLayer(2048)];
    const { entries } = dockerSaveEntries({ layers, name: 'acme/app', tag: 'latest' }, '1.10-24');
    const path = entries.filter((e) => e.path.endsWith('/layer.tar'))[1]!.path;
    out.push({ name: 'docker-archive 1.10-24', entries: entries.map((e) => (e.path === path ? { ...e, body: randomLayer(2048).tar } : e)), digest: layers[1]!.diffId });
  }
  // docker save 25+: blobs/sha256/<diff_id> with other bytes.
  {
    const layers = [randomLayer(2048), randomLayer(2048)];
    const { entries } = dockerSaveEntries({ layers, name: 'acme/app', tag: 'latest' }, '25+');
    const blob = `blobs/sha256/${layers[1]!.diffId.slice(7)}`;
    out.push({ name: 'docker-archive 25+', entries: entries.map((e) => (e.path === blob ? { ...e, body: randomLayer(2048).tar } : e)), digest: layers[1]!.diffId });
  }
  return out;
}

test('a layer that does not match its declared digest is refused before anything is uploaded or deployed', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await recorded(t, world);
  for (const archive of tampered()) {
    await t.test(archive.name, async () => {
      const file = await writeTar(path.join(world.root, `${archive.name.replace(/\W+/g, '-')}.tar`), archive.entries);
      const before = await world.snapshot();
      const seen = proxy.seen.length;
      const run = await world.raas(['push', 'acme', 'acme/app', '--file', file]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, new RegExp(`layer of image [0-9a-f]{64} does not match its declared digest ${archive.digest} \\(found sha256:[0-9a-f]{64}\\)`));
      assert.ok(run.stderr.includes(file), 'the archive is named');
      assert.deepEqual(proxy.seen.slice(seen).filter((r) => WRITES.has(r.method)), [], 'a request that writes reached storage');
      assert.deepEqual(await world.snapshot(), before);
    });
  }
});

test('layer bytes that change after verification, during the upload, are caught: nothing stored at that key, nothing deployed', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await recorded(t, world);
  const layers = [randomLayer(64 * 1024), randomLayer(64 * 1024), randomLayer(64 * 1024)];
  const { files, image } = ociFiles({ layers, tag: 'latest', gzip: false });
  const file = await writeTar(path.join(world.root, 'changing.tar'), ociEntries(files));
  const victim = image.layerDigests[2]!.slice(7);
  const bytes = await readFile(file);
  const offset = bytes.indexOf(files.get(`blobs/sha256/${victim}`)!);
  assert.ok(offset > 0);
  const before = await world.snapshot();

  // One object at a time (-j 1); while the first layer's upload is held, the last layer changes on disk.
  let release: (() => void) | undefined;
  const held = proxy.hold((r) => r.method === 'PUT' && r.key.endsWith('/layer')).then((h) => (release = h.release));
  const { execa } = await import('execa');
  const { RAAS_BIN } = await import('../helpers/world.ts');
  const running = execa(process.execPath, [RAAS_BIN, 'push', 'acme', 'acme/app', '--file', file, '-j', '1'], {
    cwd: world.configDir, env: world.env, extendEnv: false, reject: false, stdin: 'ignore',
  });
  await Promise.race([held, running.then((r) => assert.fail(`raas ended first:\n${r.stderr}`))]);
  const handle = await open(file, 'r+');
  await handle.write(randomBytes(1024), 0, 1024, offset + 4096);
  await handle.close();
  release!();
  const run = await running;

  assert.equal(run.exitCode, 1, String(run.stderr));
  assert.match(String(run.stderr), /content does not match sha256 [0-9a-f]{64}: read [0-9a-f]{64}; nothing was stored|did not have the expected length; nothing was stored/);
  const state = await assertConsistent(world, new Map());
  const stored = [...state.objects.keys()].filter((k) => k.endsWith('/layer'));
  for (const key of stored) {
    const bytes = await world.object(key);
    assert.ok(image.layerDigests.some((d) => d.slice(7) === sha256(bytes)), `${key} holds bytes no declared digest names`);
  }
  const after = await world.snapshot();
  assert.equal(after.craneRefs, before.craneRefs, 'something was deployed');
  assert.equal(after.configRefs, before.configRefs);
  t.diagnostic(`archive changed during the upload: exit 1 (${String(run.stderr).split('\n').find((l) => l.startsWith('raas push:'))}); ${stored.length} layer objects stored, each matching its digest; nothing deployed`);
});
