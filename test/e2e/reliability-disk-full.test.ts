import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { pulpWithZeroLayer, tinyTmpfs } from '../helpers/hostile-archive.ts';
import { leftovers, startRaas } from '../helpers/reliability.ts';
import { makeWorld } from '../helpers/world.ts';

/**
 * Issue 12, class 7 (disk full): raas's TMPDIR on a small tmpfs, so that space really runs
 * out. Decompressing more than the free space allows is refused before the disk fills
 * (limit maxUnpackedFreePercent); a download or a decompression that still meets ENOSPC
 * (something else filled the disk meanwhile) ends with exit 1, the directory and the fix,
 * never a stack; the partial files are removed and nothing else changes.
 */

const MiB = 1024 * 1024;

/** A fresh tmpfs of `size` as TMPDIR; skips the test where mounting is not allowed (not root, no CAP_SYS_ADMIN). */
async function smallTmp(t: TestContext, size: string): Promise<string | undefined> {
  const mounted = await tinyTmpfs(t, size);
  if (!mounted) t.skip('cannot mount a tmpfs here (needs root); the disk-full cases need a filesystem that really fills');
  return mounted;
}

function assertSpaceError(done: { code: number; stdout: string; stderr: string }, expect: string, tmp: string): void {
  assert.equal(done.code, 1, done.stderr);
  assert.ok(done.stderr.includes(expect), `the message does not say ${JSON.stringify(expect)}:\n${done.stderr}`);
  assert.ok(done.stderr.includes(tmp), `the message does not name the directory:\n${done.stderr}`);
  assert.match(done.stderr, /fix: free space on that filesystem, or set TMPDIR/);
  assert.doesNotMatch(done.stderr, /internal error|\n\s+at /, 'a stack trace was printed');
  assert.equal(done.stdout, '');
}

test('decompressing more than the free space allows is refused before the disk fills', async (t) => {
  const tmp = await smallTmp(t, '8m');
  if (!tmp) return;
  const world = await makeWorld(t, { storage: 'file' });
  const file = path.join(world.root, 'big.tar.gz');
  await pulpWithZeroLayer(file, 64);
  const before = await world.snapshot();
  const done = await startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp } }).done;
  assertSpaceError(done, 'limit maxUnpackedFreePercent', tmp);
  assert.match(done.stderr, /decompressing needs more than \d+ bytes in .*: more than 90% of the \d+ bytes free there/);
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
});

test('ENOSPC while downloading: exit 1 naming the directory and the fix; the partial download removed', async (t) => {
  const tmp = await smallTmp(t, '8m');
  if (!tmp) return;
  const world = await makeWorld(t, { storage: 'file' });
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': 32 * MiB });
    res.end(Buffer.alloc(32 * MiB));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/acme-app.tar`;
  const before = await world.snapshot();
  const done = await startRaas(t, world, ['push', 'acme', 'acme/app', '--file', url], { env: { TMPDIR: tmp } }).done;
  assertSpaceError(done, `no space left on the device for downloading ${url}`, tmp);
  assert.doesNotMatch(done.stderr, /download attempt \d failed/, 'a full disk is not retried');
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
});

test('ENOSPC while decompressing (the disk filled meanwhile): exit 1 naming the directory and the fix', async (t) => {
  const tmp = await smallTmp(t, '640m');
  if (!tmp) return;
  const world = await makeWorld(t, { storage: 'file' });
  const file = path.join(world.root, 'big.tar.gz');
  await pulpWithZeroLayer(file, 512);
  const before = await world.snapshot();
  const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp } });
  // As soon as decompression starts, another writer takes 300 MiB of the 640: the 512 MiB copy no longer fits.
  const filler = path.join(tmp, 'someone-else');
  let ended = false;
  void run.done.then(() => (ended = true));
  for (;;) {
    const names = (await readdir(tmp, { recursive: true }).catch(() => [] as string[])).map(String);
    if (names.some((n) => n.endsWith('archive.tar'))) break;
    if (ended) assert.fail(`raas ended before decompressing:\n${(await run.done).stderr}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  // raas may win the race for the space: the filler then fills what is left, which is as good.
  await writeFile(filler, Buffer.alloc(300 * MiB)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOSPC') throw error;
  });
  const done = await run.done;
  await rm(filler, { force: true });
  assertSpaceError(done, `no space left on the device for decompressing ${file}`, tmp);
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
});
