import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { makeExample } from '../helpers/archives.ts';
import {
  dockerRepeated, gzipWithZeros, ociDescriptorFlood, ociRepeated, ociTwoBigConfigs, tarDialectCases, watchDisk, watchMemory,
} from '../helpers/hostile-archive.ts';
import { fileTree, leftovers, startRaas, treeChanges } from '../helpers/reliability.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * Issue 12, classes 2 and 3 through the CLI: tar constructs that tar readers disagree on
 * are refused with exit 2, naming the entry and the rule; archives that name one file
 * hundreds of times cost what the archive holds, not what it names; a .tar.gz of GiBs of
 * zeros stops after its first block. Nothing changes anywhere, and raas's TMPDIR is empty
 * afterwards. Peak memory is read from /proc while raas runs.
 */

const MiB = 1024 * 1024;

async function freshTmp(t: TestContext, name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `raas-${name}-tmp-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A world with one image published, so that "unchanged" means more than "still empty". */
async function publishedWorld(t: TestContext): Promise<World> {
  const world = await makeWorld(t, { storage: 'file' });
  const good = await makeExample({ dir: world.root, format: 'pulp', layers: 2, tag: '1.0' });
  const first = await world.raas(['push', 'acme', 'acme/app', '--file', good.file]);
  assert.equal(first.code, 0, first.stderr);
  return world;
}

test('tar dialects that readers disagree on are refused through raas push: exit 2, entry and rule named, nothing written', async (t) => {
  const world = await publishedWorld(t);
  const archives = path.join(world.root, 'dialects');
  await mkdir(archives);
  for (const c of tarDialectCases) await c.write(path.join(archives, `${c.name}.tar`));
  const before = await world.snapshot();
  const tree = await fileTree(world.root);
  const tmpRoot = await freshTmp(t, 'dialects');
  await Promise.all(tarDialectCases.map((c) =>
    t.test(c.name, async () => {
      const file = path.join(archives, `${c.name}.tar`);
      const tmp = await mkdtemp(path.join(tmpRoot, `${c.name}-`));
      const run = await world.raas(['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp } });
      assert.equal(run.code, 2, `exit ${run.code}\n${run.stderr}`);
      assert.match(run.stderr, /^raas push: /m);
      assert.ok(run.stderr.includes(c.expect), `the message does not name the rule ${JSON.stringify(c.expect)}:\n${run.stderr}`);
      if (c.entry) assert.ok(run.stderr.includes(c.entry), `the message does not name the entry ${JSON.stringify(c.entry)}:\n${run.stderr}`);
      assert.ok(run.stderr.includes(file), `the message does not name the archive:\n${run.stderr}`);
      assert.doesNotMatch(run.stderr, /internal error|\n\s+at /);
      assert.equal(run.stdout, '');
      assert.deepEqual(await leftovers(tmp), []);
    }),
  ));
  assert.deepEqual(await world.snapshot(), before, 'storage, the Crane app or the configuration repository changed');
  assert.deepEqual(treeChanges(tree, await fileTree(world.root)), [], 'files in the world changed');
});

/** Peak RSS bound for a run that reads a few MiB of metadata; raas idles at ~100 MiB. Runs past the kill line are stopped. */
const RSS_BOUND_MIB = 400;
const RSS_KILL_MIB = 1500;

test('an archive that names one manifest or config hundreds of times costs what it holds, not what it names', async (t) => {
  const world = await publishedWorld(t);
  const cases = [
    { name: 'oci index, 1 manifest x 300, 4 MiB config', write: (f: string) => ociRepeated(f, { times: 300, configBytes: 4 * MiB }) },
    { name: 'oci index, 1 manifest x 1500, 4 MiB config', write: (f: string) => ociRepeated(f, { times: 1500, configBytes: 4 * MiB }) },
    { name: 'docker-archive manifest.json, 1 config x 100, 4 MiB', write: (f: string) => dockerRepeated(f, { times: 100, configBytes: 4 * MiB }) },
  ];
  const before = await world.snapshot();
  for (const c of cases) {
    const file = path.join(world.root, `${c.name.replace(/[^a-z0-9]+/g, '-')}.tar`);
    await c.write(file);
    const tmp = await freshTmp(t, 'amplified');
    // --dry-run: every check runs, nothing is written, so the world must stay as it was.
    const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file, '--tag', 'v9', '--dry-run', '--json'], { env: { TMPDIR: tmp }, timeoutMs: 90_000 });
    const memory = watchMemory(run, RSS_KILL_MIB);
    const done = await run.done;
    assert.ok(!memory.killed(), `${c.name}: raas passed ${RSS_KILL_MIB} MiB and was stopped`);
    assert.equal(done.code, 0, `${c.name}: exit ${done.code}\n${done.stderr}`);
    const report = JSON.parse(done.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.uploaded.length, 6, `${c.name}: 2 images of 3 objects each`);
    assert.ok(memory.peakMiB() < RSS_BOUND_MIB, `${c.name}: peak RSS ${memory.peakMiB()} MiB`);
    assert.deepEqual(await leftovers(tmp), []);
    t.diagnostic(`${c.name}: exit 0 in ${done.ms} ms, peak RSS ${memory.peakMiB()} MiB`);
  }
  assert.deepEqual(await world.snapshot(), before);
});

test('descriptor counts and total metadata bytes are bounded (maxDescriptors, maxMetadataBytes)', async (t) => {
  const world = await publishedWorld(t);
  const flood = path.join(world.root, 'flood.tar');
  await ociDescriptorFlood(flood, 20_000);
  const big = path.join(world.root, 'big-configs.tar');
  await ociTwoBigConfigs(big, 700 * 1024);
  const before = await world.snapshot();
  const cases = [
    { file: flood, limits: '', expect: 'more than 10000 descriptors in the archive\'s metadata (limit maxDescriptors)', entry: 'entry "index.json"' },
    { file: big, limits: 'maxMetadataBytes=1048576', expect: 'adds up to more than 1048576 bytes (limit maxMetadataBytes)', entry: 'blobs/sha256/' },
  ];
  for (const c of cases) {
    const tmp = await freshTmp(t, 'bounded');
    const run = await world.raas(['push', 'acme', 'acme/app', '--file', c.file], { env: { TMPDIR: tmp, RAAS_ARCHIVE_LIMITS: c.limits } });
    assert.equal(run.code, 2, run.stderr);
    assert.ok(run.stderr.includes(c.expect) && run.stderr.includes(c.entry) && run.stderr.includes(c.file), run.stderr);
    assert.equal(run.stdout, '');
    assert.deepEqual(await leftovers(tmp), []);
  }
  assert.deepEqual(await world.snapshot(), before);
});

test('a .tar.gz of 2 GiB of zeros stops after its first block: a few MiB of TMPDIR, not 2 GiB', async (t) => {
  const world = await publishedWorld(t);
  const file = path.join(world.root, 'zeros.tar.gz');
  await gzipWithZeros(file, Buffer.alloc(0), 2048);
  const tmp = await freshTmp(t, 'zeros');
  const before = await world.snapshot();
  const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp }, timeoutMs: 90_000 });
  const memory = watchMemory(run, RSS_KILL_MIB);
  const disk = watchDisk(run, tmp);
  const done = await run.done;
  assert.equal(done.code, 2, done.stderr);
  assert.ok(done.stderr.includes(`${file}: not a tar archive: the decompressed data starts with a zero block, so it holds no tar entry`), done.stderr);
  assert.ok(disk.peakMiB() < 64, `TMPDIR held ${disk.peakMiB()} MiB while raas ran`);
  assert.ok(memory.peakMiB() < RSS_BOUND_MIB, `peak RSS ${memory.peakMiB()} MiB`);
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
  t.diagnostic(`2 GiB of zeros (.tar.gz of ${(await stat(file)).size} bytes): exit 2 in ${done.ms} ms, TMPDIR peak ${disk.peakMiB()} MiB, peak RSS ${memory.peakMiB()} MiB`);
});
