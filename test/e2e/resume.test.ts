import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { open, readdir, readFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { makeExample, randomLayer, type Example } from '../helpers/archives.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { leftovers, startGateProxy, startRaas } from '../helpers/reliability.ts';
import { makeWorld, RAAS_BIN, type World } from '../helpers/world.ts';

/**
 * Incremental pushes end to end: a push killed half-way is resumed by running it again,
 * which writes only what is missing; and layers another app of the store already holds
 * are copied inside the store instead of sent again.
 */

const MiB = 1024 * 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
/** The v1 objects (`<app>/<id>/<file>`): no bookkeeping of the directory store, no Docker v2 layout. */
const V1_KEY = /^[^/]+\/[0-9a-f]{64}\/(layer|json|ancestry)$/;
const v1 = (objects: ReadonlyMap<string, string>): Map<string, string> => new Map([...objects].filter(([key]) => V1_KEY.test(key)));

/** Run a push and SIGKILL it as soon as its debug log says one object was uploaded. */
async function pushKilledAfterFirstUpload(world: World, args: readonly string[]): Promise<void> {
  const child = spawn(process.execPath, [RAAS_BIN, '-l', 'debug', '-n', ...args], { cwd: world.configDir, env: world.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    log += chunk;
    if (/^debug: uploaded /m.test(log)) child.kill('SIGKILL');
  });
  const [, signal] = await once(child, 'exit');
  assert.equal(signal, 'SIGKILL', `the push ended before it was interrupted:\n${log}`);
}

/** Every object the image consists of, key -> sha256 of its bytes, as a complete push leaves them. */
function expectedObjects(example: Example, app: string, objects: ReadonlyMap<string, string>): Map<string, string> {
  const expected = new Map<string, string>();
  example.ids.forEach((id, i) => {
    expected.set(`${app}/${id}/layer`, sha256(example.layers[i]!.tar));
    for (const kind of ['json', 'ancestry']) expected.set(`${app}/${id}/${kind}`, objects.get(`${app}/${id}/${kind}`) ?? 'missing');
  });
  return expected;
}

/**
 * Objects a push completed, key -> ETag and LastModified. s3rver (unlike S3) shows an object
 * while its body is still arriving; raas records its sha256 only with a complete one.
 */
async function completedObjects(world: World): Promise<Map<string, string>> {
  const listed = await world.s3!.client.send(new ListObjectsV2Command({ Bucket: world.bucket }));
  const completed = new Map<string, string>();
  for (const { Key } of listed.Contents ?? []) {
    const head = await world.s3!.client.send(new HeadObjectCommand({ Bucket: world.bucket, Key }));
    if (V1_KEY.test(Key!) && head.Metadata?.['raas-sha256']) completed.set(Key!, `${head.ETag} ${head.LastModified?.toISOString()}`);
  }
  return completed;
}


test('a push killed after some uploads, run again, uploads only what is missing (S3)', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  // Every request waits 100 ms, so the kill lands while most of the push is still to do.
  const proxy = await startFaultProxy({ target: world.s3!.endpoint, rates: { delay: 1 }, delayMs: 100, maxFaults: 10_000 });
  t.after(() => proxy.stop());
  await world.useEndpoint(proxy.endpoint);
  const example = await makeExample({ dir: world.root, format: 'pulp', layers: 4, layerBytes: 2 * MiB, tag: '1.0' });
  const args = ['push', 'acme', 'acme/app', '--file', example.file];

  await pushKilledAfterFirstUpload(world, [...args, '-j', '1']);
  const finished = await completedObjects(world);
  assert.ok(finished.size >= 1 && finished.size < 12, `${finished.size} of 12 objects were there when the push was killed`);

  await sleep(1100); // a second upload of the same bytes would show a later LastModified
  const rerun = await world.raas([...args, '--json']);
  assert.equal(rerun.code, 0, rerun.stderr);
  const report = JSON.parse(rerun.stdout);
  assert.deepEqual(report.present.filter((k: string) => finished.has(k)).sort(), [...finished.keys()].sort(), 'what was finished counts as present');
  assert.deepEqual(report.uploaded.filter((o: { key: string }) => finished.has(o.key)), [], 'nothing finished is uploaded again');
  assert.equal(report.uploaded.length + report.present.length, 12);

  const after = await completedObjects(world);
  for (const [key, before] of finished) assert.equal(after.get(key), before, `${key} was not written again`);
  const objects = v1(await world.objects());
  assert.deepEqual(objects, expectedObjects(example, 'acme-app', objects));
  assert.deepEqual((await world.deployed('acme/app')).images.map((i) => i.id), example.ids);
});

test('a push killed after some uploads, run again, uploads only what is missing and leaves no partial file (directory store)', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const example = await makeExample({ dir: world.root, format: 'pulp', layers: 16, layerBytes: 4 * MiB, tag: '1.0' });
  const args = ['push', 'acme', 'acme/app', '--file', example.file];

  await pushKilledAfterFirstUpload(world, [...args, '-j', '1']);
  const finished = v1(await world.objects());
  assert.ok(finished.size >= 1 && finished.size < 48, `${finished.size} of 48 objects were there when the push was killed`);

  const rerun = await world.raas([...args, '--json']);
  assert.equal(rerun.code, 0, rerun.stderr);
  const report = JSON.parse(rerun.stdout);
  assert.deepEqual(report.uploaded.filter((o: { key: string }) => finished.has(o.key)), [], 'nothing finished is uploaded again');
  assert.equal(report.uploaded.length + report.present.length, 48);
  const objects = v1(await world.objects());
  assert.deepEqual(objects, expectedObjects(example, 'acme-app', objects));
  const left = (await readdir(world.storageDir, { recursive: true })).filter((name) => name.includes('.partial-'));
  assert.deepEqual(left, [], 'the interrupted write left nothing behind');
});

/** The journals of incomplete writes a world's runs keep ($XDG_STATE_HOME/raas/writes). */
const journals = async (world: World): Promise<string[]> => readdir(path.join(world.env.XDG_STATE_HOME!, 'raas', 'writes')).catch(() => []);

test('a multipart upload a killed push left is aborted by the next push, which finishes the image (S3)', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await startGateProxy(t, world.s3!.endpoint);
  await world.useEndpoint(proxy.endpoint);
  const example = await makeExample({ dir: world.root, format: 'pulp', layers: [randomLayer(24 * MiB), randomLayer(2048)], tag: '1.0' });
  const args = ['push', 'acme', 'acme/app', '--file', example.file];

  // Hold the first part half sent, then kill: the upload exists in S3, and nobody is left to abort it.
  const held = proxy.hold((r) => r.method === 'PUT' && r.query.includes('uploadId='));
  const killed = startRaas(t, world, ['-l', 'debug', ...args]);
  const { release } = await Promise.race([held, killed.done.then((f) => assert.fail(`raas ended first:\n${f.stderr}`))]);
  killed.kill('SIGKILL', 'group');
  release();
  assert.equal((await killed.done).signal, 'SIGKILL');
  const uploadId = new URLSearchParams(proxy.seen.find((r) => r.method === 'PUT' && r.query.includes('uploadId='))!.query).get('uploadId');
  assert.ok(uploadId);
  assert.equal((await journals(world)).length, 1, 'the killed run left its journal');

  const rerun = await world.raas(args);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stderr, /Aborted 1 incomplete upload that killed runs left in s3:\/\/acme-registry\//);
  const aborts = proxy.seen.filter((r) => r.method === 'DELETE' && new URLSearchParams(r.query).get('uploadId') === uploadId);
  assert.equal(aborts.length, 1, 'the killed run\'s upload is aborted');
  assert.deepEqual(await journals(world), [], 'nothing is left outstanding');
  const objects = v1(await world.objects());
  assert.deepEqual(objects, expectedObjects(example, 'acme-app', objects));
});

test('a partial file a killed push left is removed by the next push (directory store)', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const example = await makeExample({ dir: world.root, format: 'pulp', layers: [randomLayer(48 * MiB), randomLayer(2048)], tag: '1.0' });
  const args = ['push', 'acme', 'acme/app', '--file', example.file];
  const killed = startRaas(t, world, args);
  const partials = async () => (await leftovers(world.storageDir).catch(() => [] as string[])).filter((f) => f.includes('.partial-'));
  while ((await partials()).length === 0) {
    assert.ok(!killed.lines.some((l) => l.startsWith('Deployed ')), 'no write was caught in progress');
    await sleep(2);
  }
  killed.kill('SIGKILL', 'group');
  assert.equal((await killed.done).signal, 'SIGKILL');
  assert.notDeepEqual(await partials(), []);

  const rerun = await world.raas(args);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stderr, /Aborted [1-9]\d* incomplete uploads? that killed runs left in file:/);
  assert.deepEqual(await partials(), []);
  assert.deepEqual(await journals(world), []);
  const objects = v1(await world.objects());
  assert.deepEqual(objects, expectedObjects(example, 'acme-app', objects));
});

for (const storage of ['s3', 'file'] as const) {
  test(`layers another app holds are copied inside the store, never from an object with other bytes (${storage})`, async (t) => {
    const world = await makeWorld(t, { storage });
    const layers = [randomLayer(MiB + 1000), randomLayer(2 * MiB), randomLayer(100)];
    const example = await makeExample({ dir: world.root, format: storage === 's3' ? 'pulp' : 'oci-archive', layers, tag: '1.0' });
    const [base, middle, top] = example.ids as [string, string, string];
    if (world.s3) {
      // Same key shape and size as the base layer, but other bytes: raas recorded their own sha256.
      const impostor = randomBytes(layers[0]!.tar.length);
      await world.s3.client.send(new PutObjectCommand({
        Bucket: world.bucket, Key: `acme-old/${base}/layer`, Body: impostor, Metadata: { 'raas-sha256': sha256(impostor) },
      }));
    }

    const first = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout).uploaded.filter((o: { copiedFrom?: string }) => o.copiedFrom), [], 'nothing to copy from');

    const second = await world.raas(['push', 'acme', 'acme/copy', '--file', example.file, '--json']);
    assert.equal(second.code, 0, second.stderr);
    const copied = JSON.parse(second.stdout).uploaded.filter((o: { copiedFrom?: string }) => o.copiedFrom);
    assert.deepEqual(
      copied.map((o: { key: string; copiedFrom: string }) => [o.key, o.copiedFrom]).sort(),
      [base, middle].map((id) => [`acme-copy/${id}/layer`, `acme-app/${id}/layer`]).sort(),
      'layers of 1 MiB and more are copied; the small one is uploaded',
    );
    assert.ok(!copied.some((o: { key: string }) => o.key.includes(top)));
    const objects = v1(await world.objects());
    const app = [...objects].filter(([k]) => k.startsWith('acme-app/')).map(([k, v]) => [k.replace('acme-app/', ''), v]);
    const copy = [...objects].filter(([k]) => k.startsWith('acme-copy/')).map(([k, v]) => [k.replace('acme-copy/', ''), v]);
    assert.deepEqual(copy, app, 'the second app holds the same bytes');

    const third = await world.raas(['push', 'acme', 'acme/copy', '--file', example.file, '--json']);
    assert.equal(third.code, 0, third.stderr);
    assert.equal(JSON.parse(third.stdout).uploaded.length, 0, 'copies carry the recorded sha256, so a rerun finds them present');
  });
}

test('an unchanged archive pushed again is not read again; one changed in place, size and times put back, is (S3)', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const layers = [randomLayer(64 * 1024), randomLayer(3 * MiB)];
  const example = await makeExample({ dir: world.root, format: 'pulp', layers, tag: '1.0' });
  const longAgo = new Date('2026-01-01T00:00:00Z');
  await utimes(example.file, longAgo, longAgo);
  const args = ['push', 'acme', 'acme/app', '--file', example.file];
  const fromCache = /Digests of (\d+) layers? from an earlier push of this archive file/;

  const first = await world.raas(args);
  assert.equal(first.code, 0, first.stderr);
  assert.doesNotMatch(first.stderr, fromCache);
  const again = await world.raas([...args, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(fromCache.exec(again.stderr)?.[1], '2', again.stderr);
  assert.deepEqual(JSON.parse(again.stdout).uploaded, []);

  // The top layer changes in place: same size, modification time put back (its inode change time cannot be).
  const archive = await readFile(example.file);
  const at = archive.indexOf(layers[1]!.tar.subarray(MiB, MiB + 64));
  assert.ok(at > 0);
  const handle = await open(example.file, 'r+');
  await handle.write(randomBytes(4096), 0, 4096, at);
  await handle.close();
  await utimes(example.file, longAgo, longAgo);
  const changed = await world.raas([...args, '--json']);
  assert.equal(changed.code, 0, changed.stderr);
  assert.doesNotMatch(changed.stderr, fromCache, 'a changed archive was trusted');
  const key = `acme-app/${example.ids[1]}/layer`;
  assert.deepEqual(JSON.parse(changed.stdout).uploaded.map((o: { key: string }) => o.key).filter((k: string) => k.endsWith('/layer')), [key]);
  const stored = await world.object(key);
  const start = at - MiB; // where the layer begins in the archive
  assert.deepEqual(sha256(stored), sha256((await readFile(example.file)).subarray(start, start + layers[1]!.tar.length)), 'the stored layer is the changed one');

  const rehashed = await world.raas([...args, '--rehash']);
  assert.equal(rehashed.code, 0, rehashed.stderr);
  assert.doesNotMatch(rehashed.stderr, fromCache);
  t.diagnostic('re-push of an unchanged archive: both layers\' digests from the cache; after an in-place change (size and mtime kept): read again, the changed layer uploaded');
});
