import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { git } from '../helpers/git.ts';
import { pulpWithZeroLayer, sparsePulpExport } from '../helpers/hostile-archive.ts';
import {
  assertConsistent, groupGone, leftovers, makePauses, metadataFiles, pulpArchive, startGateProxy, startRaas, waitForFile, type PulpArchive,
} from '../helpers/reliability.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * Issue 5, part 3 (second half): SIGINT and SIGTERM stop raas cleanly at the moments that
 * matter: multipart uploads in flight are aborted, the file store's partial files are
 * removed, git is stopped, the temporary directory (a fresh TMPDIR per run) is removed,
 * the exit code is 130 or 143, and nothing is half-published: whatever the Crane app
 * serves is in storage. A terminal's Ctrl-C reaches the whole process group (raas and its
 * git), so SIGINT goes to the group; `kill <pid>` reaches raas alone, so SIGTERM does.
 */

const MiB = 1024 * 1024;

async function freshTmp(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raas-signal-tmp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}


/** The rerun after an interruption publishes everything: the tag deployed, objects whole, backup equal to the deployment. */
async function assertRerunFinishes(world: World, archive: PulpArchive, expected: Map<string, string>, tmp: string): Promise<void> {
  const rerun = await world.raas(['push', 'acme', archive.image, '--file', archive.file], { env: { TMPDIR: tmp } });
  assert.equal(rerun.code, 0, rerun.stderr);
  const final = await assertConsistent(world, expected, { strict: true });
  const flat = archive.image.replace('/', '-');
  const deployed = JSON.parse(final.deployed.get(`acme-${flat}.json`)!);
  assert.equal(deployed.tags[archive.tag], archive.ids.at(-1));
  assert.equal(final.backup.get(`${flat}.json`), final.deployed.get(`acme-${flat}.json`));
  assert.deepEqual(await leftovers(tmp), []);
  assert.equal(await git(world.configDir, 'status', '--porcelain'), '');
}

test('SIGINT during multipart uploads: parts aborted, nothing visible at their keys, temp removed, exit 130', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await startGateProxy(t, world.s3!.endpoint);
  await world.useEndpoint(proxy.endpoint);
  const archive = await pulpArchive(world.root, { image: 'acme/multipart', tag: '1.0', layers: [24 * MiB, 20 * MiB, 2048] });
  const expected = new Map(archive.objects);
  const tmp = await freshTmp(t);
  const before = await world.snapshot();

  let release: (() => void) | undefined;
  const held = proxy.hold((r) => r.method === 'PUT' && r.query.includes('partNumber=2')).then((h) => (release = h.release));
  const run = startRaas(t, world, ['push', 'acme', archive.image, '--file', archive.file, '--json'], { env: { TMPDIR: tmp } });
  await Promise.race([held, run.done.then((f) => assert.fail(`raas ended first:\n${f.stderr}`))]);
  run.kill('SIGINT');
  const done = await run.done;
  release?.();

  assert.equal(done.code, 130, done.stderr);
  assert.match(done.stderr, /SIGINT: stopping/);
  assert.deepEqual(JSON.parse(done.stdout), { ok: false, error: 'interrupted by SIGINT' });
  assert.ok(done.ms < 10_000, `stopping took ${done.ms} ms`);
  const created = proxy.seen.filter((r) => r.method === 'POST' && r.query.includes('uploads'));
  const aborted = proxy.seen.filter((r) => r.method === 'DELETE' && r.query.includes('uploadId='));
  assert.ok(created.length >= 1, 'no multipart upload was in flight');
  assert.deepEqual(aborted.map((r) => r.key).sort(), created.map((r) => r.key).sort(), 'every multipart upload started is aborted');
  // s3rver answers AbortMultipartUpload with 405 (not implemented; its parts are never visible): nothing an operator could act on.
  assert.doesNotMatch(done.stderr, /could not abort/);
  for (const r of created) assert.doesNotMatch(done.stderr, new RegExp(`^Uploaded ${r.key} `, 'm'), `${r.key} was aborted, not uploaded`);
  const objects = (await assertConsistent(world, expected)).objects;
  for (const r of created) assert.ok(!objects.has(r.key), `${r.key} is visible after its upload was aborted`);
  assert.deepEqual(await leftovers(tmp), [], 'the temporary directory is left');
  const after = await world.snapshot();
  assert.deepEqual([after.craneRefs, after.configRefs, after.configHead, after.configStatus], [before.craneRefs, before.configRefs, before.configHead, before.configStatus]);
  t.diagnostic(`SIGINT with ${created.length} multipart uploads in flight: exit 130 after ${done.ms} ms, ${aborted.length} AbortMultipartUpload requests sent`);

  await assertRerunFinishes(world, archive, expected, tmp);
});

test('SIGINT while a multipart upload is being created: it is still aborted once created', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await startGateProxy(t, world.s3!.endpoint);
  await world.useEndpoint(proxy.endpoint);
  const archive = await pulpArchive(world.root, { image: 'acme/creating', tag: '1.0', layers: [24 * MiB, 2048] });
  const tmp = await freshTmp(t);

  let release: (() => void) | undefined;
  const held = proxy.hold((r) => r.method === 'POST' && r.query.includes('uploads')).then((h) => (release = h.release));
  const run = startRaas(t, world, ['push', 'acme', archive.image, '--file', archive.file], { env: { TMPDIR: tmp } });
  await Promise.race([held, run.done.then((f) => assert.fail(`raas ended first:\n${f.stderr}`))]);
  run.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 100));
  release?.();
  const done = await run.done;
  assert.equal(done.code, 130, done.stderr);
  const created = proxy.seen.filter((r) => r.method === 'POST' && r.query.includes('uploads'));
  const aborted = proxy.seen.filter((r) => r.method === 'DELETE' && r.query.includes('uploadId='));
  assert.equal(created.length, 1);
  assert.deepEqual(aborted.map((r) => r.key), created.map((r) => r.key), 'the upload created after the signal is aborted');
  assert.deepEqual(await leftovers(tmp), []);
  await assertRerunFinishes(world, archive, new Map(archive.objects), tmp);
});

test('SIGTERM while the file store writes a layer: no partial file left, temp removed, exit 143', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const archive = await pulpArchive(world.root, { image: 'acme/filestore', tag: '1.0', layers: [32 * MiB, 32 * MiB, 32 * MiB] });
  const expected = new Map(archive.objects);
  const tmp = await freshTmp(t);
  const before = await world.snapshot();

  const run = startRaas(t, world, ['push', 'acme', archive.image, '--file', archive.file, '-j', '1'], { env: { TMPDIR: tmp } });
  const partial = async (): Promise<string | undefined> =>
    (await readdir(world.storageDir, { recursive: true }).catch(() => [] as string[])).map(String).find((f) => f.includes('.partial-'));
  let seen: string | undefined;
  const ended = run.done.then(() => true);
  while (!(seen = await partial())) {
    if (await Promise.race([ended, new Promise<false>((r) => setTimeout(() => r(false), 2))])) assert.fail('raas ended before writing');
  }
  run.kill('SIGTERM', 'process');
  const done = await run.done;

  assert.equal(done.code, 143, done.stderr);
  assert.match(done.stderr, /SIGTERM: stopping/);
  assert.equal(await partial(), undefined, `a partial file is left (saw ${seen})`);
  await assertConsistent(world, expected, { strict: true });
  assert.deepEqual(await leftovers(tmp), []);
  const after = await world.snapshot();
  assert.deepEqual([after.craneRefs, after.configRefs, after.configHead], [before.craneRefs, before.configRefs, before.configHead]);
  t.diagnostic(`SIGTERM during a file-store write (${seen}): exit 143 after ${done.ms} ms, no partial file left`);

  await assertRerunFinishes(world, archive, expected, tmp);
});

test('SIGTERM during the git push to the Crane app: git stopped, exit 143, the app serves all or nothing of the push', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const pauses = await makePauses(t, world.root);
  const archive = await pulpArchive(world.root, { image: 'acme/gitpush', tag: '1.0', layers: [2048, 2048] });
  const expected = new Map(archive.objects);
  const tmp = await freshTmp(t);
  const craneBefore = await git(world.craneRemote, 'for-each-ref');

  const hook = await pauses.hook(world.craneRemote, 'pre-receive');
  const run = startRaas(t, world, ['push', 'acme', archive.image, '--file', archive.file], { env: { TMPDIR: tmp }, keepGroup: true });
  await waitForFile(hook.marker, { while: run });
  run.kill('SIGTERM', 'process');
  const done = await run.done;
  assert.equal(done.code, 143, done.stderr);
  assert.ok(done.ms < 10_000);
  assert.deepEqual(await leftovers(tmp), []);
  await assertConsistent(world, expected);

  // The server side outlives the client it lost; once it ends, the app has all of the push or none of it.
  await hook.remove();
  await hook.release();
  assert.ok(await groupGone(run.pid), 'git processes of the interrupted run are still running');
  await assertConsistent(world, expected);
  const craneAfter = await git(world.craneRemote, 'for-each-ref');
  const served = (await metadataFiles(world.craneRemote, 'crane/data')).get('acme-acme-gitpush.json');
  assert.ok(craneAfter === craneBefore || JSON.parse(served!).tags['1.0'] === archive.ids.at(-1));
  t.diagnostic(`SIGTERM during the Crane app push: exit 143 after ${done.ms} ms; the app ${craneAfter === craneBefore ? 'kept its previous state' : 'received the whole push from the orphaned server side'}`);

  await assertRerunFinishes(world, archive, expected, tmp);
});

test('SIGINT during the backup push: exit 130, backup lock released, the rerun pushes the backup', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const pauses = await makePauses(t, world.root);
  const archive = await pulpArchive(world.root, { image: 'acme/backup', tag: '1.0', layers: [2048, 2048] });
  const expected = new Map(archive.objects);
  const tmp = await freshTmp(t);
  const configBefore = await git(world.configRemote, 'for-each-ref');

  const hook = await pauses.hook(world.configRemote, 'pre-receive');
  const run = startRaas(t, world, ['push', 'acme', archive.image, '--file', archive.file], { env: { TMPDIR: tmp } });
  await waitForFile(hook.marker, { while: run });
  run.kill('SIGINT');
  const done = await run.done;
  await hook.remove();
  await hook.release();
  assert.equal(done.code, 130, done.stderr);
  assert.deepEqual(await leftovers(tmp), []);
  assert.ok(!existsSync(path.join(world.configDir, '.git', 'raas-backup.lock')), 'the backup lock is left behind');
  assert.equal(await git(world.configRemote, 'for-each-ref'), configBefore, 'the interrupted push reached the configuration repository');
  const state = await assertConsistent(world, expected);
  assert.equal(JSON.parse(state.deployed.get('acme-acme-backup.json')!).tags['1.0'], archive.ids.at(-1), 'deployed before the backup');
  t.diagnostic(`SIGINT during the backup push: exit 130 after ${done.ms} ms; deployed, backup committed locally, pushed by the rerun`);

  await assertRerunFinishes(world, archive, expected, tmp);
});

test('SIGINT during the archive download: the download stops and is removed, exit 130', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  let sent = 0;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': 64 * MiB });
    const chunk = Buffer.alloc(64 * 1024);
    const timer = setInterval(() => {
      sent += chunk.length;
      res.write(chunk);
    }, 20);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow.tar`;
  const tmp = await freshTmp(t);
  const before = await world.snapshot();
  const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', url], { env: { TMPDIR: tmp } });
  await run.line(/^Downloading /);
  while (sent < 256 * 1024) await new Promise((r) => setTimeout(r, 10));
  run.kill('SIGINT');
  const done = await run.done;
  assert.equal(done.code, 130, done.stderr);
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
  t.diagnostic(`SIGINT after ${Math.round(sent / 1024)} KiB of a slow download: exit 130 after ${done.ms} ms, nothing left`);
});

/** Issue 12, class 8: the long phases of reading an archive stop at the signal, not when they end. */

/** Bytes raas has read so far (rchar of /proc/<pid>/io). */
const bytesRead = async (pid: number): Promise<number> => Number(/rchar: (\d+)/.exec(await readFile(`/proc/${pid}/io`, 'utf8').catch(() => ''))?.[1] ?? 0);

async function until(condition: () => Promise<boolean>, run: { done: Promise<unknown> }, what: string): Promise<void> {
  let ended = false;
  void run.done.then(() => (ended = true));
  while (!(await condition())) {
    if (ended) assert.fail(`raas ended before ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('SIGINT while a 2 GiB .tar.gz is decompressed: stops at once, decompressed copy removed, exit 130', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const file = path.join(world.root, 'big.tar.gz');
  await pulpWithZeroLayer(file, 2048);
  const tmp = await freshTmp(t);
  const before = await world.snapshot();
  const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp } });
  const copy = async (): Promise<number> => {
    for (const name of await readdir(tmp, { recursive: true }).catch(() => [] as string[])) {
      if (String(name).endsWith('archive.tar')) return (await stat(path.join(tmp, String(name))).catch(() => undefined))?.size ?? 0;
    }
    return 0;
  };
  await until(async () => (await copy()) > 32 * MiB, run, 'decompressing 32 MiB');
  const signalled = Date.now();
  run.kill('SIGINT');
  const done = await run.done;
  const stopping = Date.now() - signalled;
  assert.equal(done.code, 130, done.stderr);
  // Nothing after the read: on main decompression ran to its end and the push went on to "Read pulp archive".
  assert.doesNotMatch(done.stderr, /^Read /m);
  assert.ok(stopping < 3000, `raas took ${stopping} ms to stop`);
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
  t.diagnostic(`SIGINT during decompression: exit 130 ${stopping} ms after the signal`);
});

test('SIGTERM while an 8 GiB layer is hashed: stops at once, exit 143', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const file = path.join(world.root, 'sparse.tar');
  await sparsePulpExport(file, 8192);
  const tmp = await freshTmp(t);
  const before = await world.snapshot();
  const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file, '--rehash'], { env: { TMPDIR: tmp } });
  await run.line(/^Read pulp archive/);
  const start = await bytesRead(run.pid);
  await until(async () => (await bytesRead(run.pid)) - start > 256 * MiB, run, 'hashing 256 MiB');
  const signalled = Date.now();
  run.kill('SIGTERM', 'process');
  const done = await run.done;
  const stopping = Date.now() - signalled;
  assert.equal(done.code, 143, done.stderr);
  // The pass that hashes a Pulp layer (it declares no digest) runs as it is stored; nothing may follow the signal.
  assert.match(done.stderr, /SIGTERM: stopping; nothing is published half-way\n$/, 'the push went on after the signal');
  assert.ok(stopping < 3000, `raas took ${stopping} ms to stop`);
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
  t.diagnostic(`SIGTERM while hashing: exit 143 ${stopping} ms after the signal`);
});
