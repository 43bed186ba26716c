import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeExample } from '../helpers/archives.ts';
import { hostileCases } from '../helpers/hostile.ts';
import { fileTree, leftovers, startFileHttp, startGateProxy, treeChanges } from '../helpers/reliability.ts';
import { makeWorld } from '../helpers/world.ts';

/**
 * Issue 5, part 1: every archive of the hostile corpus, pushed through the CLI, is refused
 * with exit 2 and a message naming the entry and the rule, and nothing happens anywhere:
 * no request that writes reaches storage, no commit lands in the Crane app or the
 * configuration repository, no file changes in the world, and raas's temporary directory
 * (TMPDIR is a fresh directory per run) is empty afterwards.
 */

const WRITES = new Set(['PUT', 'POST', 'DELETE']);

test('every hostile archive is refused through raas push: exit 2, entry and rule named, nothing written anywhere', { concurrency: 2 }, async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  // Storage through a recording proxy, so that even a write raas undid would show.
  const proxy = await startGateProxy(t, world.s3!.endpoint);
  await world.useEndpoint(proxy.endpoint);
  // Something published already, so "unchanged" means more than "still empty".
  const good = await makeExample({ dir: world.root, format: 'oci-archive', layers: 2, tag: '1.0' });
  const first = await world.raas(['push', 'acme', 'acme/app', '--file', good.file]);
  assert.equal(first.code, 0, first.stderr);

  const archives = path.join(world.root, 'hostile');
  await mkdir(archives);
  for (const c of hostileCases) await c.write(path.join(archives, `${c.name}.tar`));
  const tmpRoot = await mkdtemp(path.join(os.tmpdir(), 'raas-hostile-tmp-'));
  t.after(() => rm(tmpRoot, { recursive: true, force: true }));

  const before = await world.snapshot();
  const tree = await fileTree(world.root);
  let slowest = 0;
  const requests = proxy.seen.length;
  const started = Date.now();
  // Two runs at a time (they only read): the corpus is large.
  await Promise.all(hostileCases.map((c) =>
    t.test(c.name, async () => {
      const file = path.join(archives, `${c.name}.tar`);
      const tmp = await mkdtemp(path.join(tmpRoot, `${c.name}-`));
      const limits = Object.entries(c.limits ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
      const runStarted = Date.now();
      const run = await world.raas(['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp, RAAS_ARCHIVE_LIMITS: limits } });
      slowest = Math.max(slowest, Date.now() - runStarted);

      assert.equal(run.code, 2, `exit ${run.code}\n${run.stderr}`);
      assert.match(run.stderr, /^raas push: /m);
      assert.ok(run.stderr.includes(c.expect), `the message does not name the rule ${JSON.stringify(c.expect)}:\n${run.stderr}`);
      if (c.entry) assert.ok(run.stderr.includes(c.entry), `the message does not name the entry ${JSON.stringify(c.entry)}:\n${run.stderr}`);
      assert.ok(run.stderr.includes(file), `the message does not name the archive:\n${run.stderr}`);
      assert.equal(run.stdout, '');
      assert.deepEqual(await leftovers(tmp), [], 'raas left files in its temporary directory');
    }),
  ));
  const writes = proxy.seen.slice(requests).filter((r) => WRITES.has(r.method));
  assert.deepEqual(writes, [], 'a request that writes reached storage');
  assert.deepEqual(await world.snapshot(), before, 'storage, the Crane app or the configuration repository changed');
  assert.deepEqual(treeChanges(tree, await fileTree(world.root)), [], 'files in the world changed');
  t.diagnostic(`${hostileCases.length} hostile archives refused through the CLI in ${Date.now() - started} ms (slowest run ${slowest} ms); ${proxy.seen.length - requests} storage requests, none writing`);
});

test('a hostile archive fetched over HTTP is refused the same way, and the download is removed', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const hostile = hostileCases.find((c) => c.name === 'symlink-outside')!;
  const file = path.join(world.root, 'hostile.tar');
  await hostile.write(file);
  const server = await startFileHttp(t, file, 'fetcher', 'fetch-secret');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'raas-hostile-tmp-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const before = await world.snapshot();
  const tree = await fileTree(world.root);
  const run = await world.raas(['push', 'acme', 'acme/app', '--file', server.url('hostile.tar'), '--json'], { env: { TMPDIR: tmp } });
  assert.equal(run.code, 2, run.stderr);
  assert.ok(run.stderr.includes(hostile.expect) && run.stderr.includes(hostile.entry!), run.stderr);
  assert.equal(JSON.parse(run.stdout).ok, false);
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
  assert.deepEqual(treeChanges(tree, await fileTree(world.root)), []);
});
