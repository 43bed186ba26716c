import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { makeExample } from '../helpers/archives.ts';
import { editConfig, hostileServer, watchMemory } from '../helpers/hostile-archive.ts';
import { leftovers, startRaas } from '../helpers/reliability.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * Issue 12, class 6: the servers raas reads from are untrusted. A base-image metadata URL
 * that streams without end is cut at the cap while it streams; a download whose server
 * never answers or stalls mid-body fails after bounded attempts with the URL and the
 * limit named; an S3 endpoint that accepts connections and never answers fails within
 * `[aws] request_timeout` per attempt. Each run exits 1, prints no stack, leaves raas's
 * TMPDIR empty and changes nothing.
 */

const MiB = 1024 * 1024;
/** Timeouts of 1 s keep these runs short; the defaults are 30 s and 60 s. */
const PULP_TIMEOUTS = '[pulp]\nconnect_timeout = 1\nstall_timeout = 1\n';

async function freshTmp(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raas-servers-tmp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function assertFailedCleanly(done: { code: number; stdout: string; stderr: string }, expect: string): void {
  assert.equal(done.code, 1, done.stderr);
  assert.match(done.stderr, /^raas push: /m);
  assert.ok(done.stderr.includes(expect), `the message does not say ${JSON.stringify(expect)}:\n${done.stderr}`);
  assert.doesNotMatch(done.stderr, /internal error|\n\s+at /, 'a stack trace was printed');
  assert.equal(done.stdout, '');
}

async function worldWithArchive(t: TestContext, storage: 'file' | 's3' = 'file', extraCfg = PULP_TIMEOUTS): Promise<{ world: World; file: string }> {
  const world = await makeWorld(t, { storage, extraCfg });
  const good = await makeExample({ dir: world.root, format: 'pulp', layers: 2, tag: '1.0' });
  return { world, file: good.file };
}

test('base-image metadata that streams without end is cut at 8 MiB while it streams: memory stays flat', async (t) => {
  // The default timeouts: the cap alone must stop this.
  const { world, file } = await worldWithArchive(t, 'file', '');
  const server = await hostileServer(t, 'endless');
  const url = `${server.url}/redhat-base.json`;
  await editConfig(world, (cfg) => cfg.replace(/^mask_layers = (.*)$/m, `mask_layers = $1\nmetadata = ${url}`));
  const tmp = await freshTmp(t);
  const before = await world.snapshot();
  const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp }, timeoutMs: 60_000 });
  const memory = watchMemory(run, 1500);
  const done = await run.done;
  assert.ok(!memory.killed(), 'raas passed 1.5 GiB of memory and was stopped');
  assertFailedCleanly(done, `base-image metadata ([redhat] metadata) ${url} is larger than the limit of ${8 * MiB} bytes`);
  assert.ok(memory.peakMiB() < 250, `peak RSS ${memory.peakMiB()} MiB`);
  assert.ok(server.sent() < 256 * MiB, `the server got to send ${Math.round(server.sent() / MiB)} MiB`);
  assert.equal(server.connections(), 1, 'a body over the cap is not fetched again');
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
  t.diagnostic(`endless metadata URL: exit 1 after ${done.ms} ms, ${Math.round(server.sent() / MiB)} MiB sent by the server, peak RSS ${memory.peakMiB()} MiB`);
});

test('a download whose server stalls mid-body, or never answers, fails after bounded attempts naming the URL and the limit', async (t) => {
  const { world } = await worldWithArchive(t);
  const cases = [
    { mode: 'stall' as const, expect: (url: string) => `${url} sent nothing for 1 s (limit [pulp] stall_timeout)` },
    { mode: 'silent' as const, expect: (url: string) => `no answer from ${url} within 1 s (limit [pulp] connect_timeout)` },
  ];
  const before = await world.snapshot();
  for (const c of cases) {
    const server = await hostileServer(t, c.mode);
    const url = `${server.url}/acme-app.tar`;
    const tmp = await freshTmp(t);
    const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', url], { env: { TMPDIR: tmp }, timeoutMs: 60_000 });
    const done = await run.done;
    assertFailedCleanly(done, c.expect(url));
    // undici may open a second connection for an attempt it gave up; the count is bounded all the same.
    assert.ok(server.connections() >= 4 && server.connections() <= 8, `${c.mode}: ${server.connections()} connections for 4 attempts`);
    assert.equal((done.stderr.match(/download attempt \d failed/g) ?? []).length, 3);
    assert.deepEqual(await leftovers(tmp), [], 'the partial download is left');
    t.diagnostic(`${c.mode} download server: exit 1 after ${done.ms} ms, 4 attempts over ${server.connections()} connections`);
  }
  // Metadata URLs go through the same guard.
  const silent = await hostileServer(t, 'silent');
  const metadataUrl = `${silent.url}/base.json`;
  await editConfig(world, (cfg) => cfg.replace(/^mask_layers = (.*)$/m, `mask_layers = $1\nmetadata = ${metadataUrl}`));
  const { file } = { file: (await makeExample({ dir: world.root, format: 'pulp', layers: 1, tag: '2.0' })).file };
  const tmp = await freshTmp(t);
  const done = await startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp }, timeoutMs: 60_000 }).done;
  assertFailedCleanly(done, `no answer from base-image metadata ([redhat] metadata) ${metadataUrl} within 1 s`);
  assert.ok(silent.connections() >= 4 && silent.connections() <= 8, `${silent.connections()} connections`);
  const after = await world.snapshot();
  assert.deepEqual([after.objects, after.craneRefs, after.configRefs], [before.objects, before.craneRefs, after.configRefs]);
  t.diagnostic(`silent metadata server: exit 1 after ${done.ms} ms`);
});

test('an S3 endpoint that accepts connections and never answers fails within [aws] request_timeout per attempt', async (t) => {
  const { world, file } = await worldWithArchive(t, 's3');
  const silent = await hostileServer(t, 'silent');
  await editConfig(world, (cfg) => cfg.replace(/^endpoint = .*$/m, `endpoint = ${silent.url}`).replace(/^part_size = (.*)$/m, 'part_size = $1\nrequest_timeout = 1'));
  const tmp = await freshTmp(t);
  const before = await world.snapshot();
  const run = startRaas(t, world, ['push', 'acme', 'acme/app', '--file', file], { env: { TMPDIR: tmp }, timeoutMs: 90_000 });
  const done = await run.done;
  assertFailedCleanly(done, `cannot reach S3 endpoint ${silent.url} (TimeoutError) after 5 attempts`);
  // 5 attempts of 1 s each plus the SDK's backoff; the default of 60 s would make this 5 minutes, not the 10 it was.
  assert.ok(done.ms < 45_000, `failing took ${done.ms} ms`);
  assert.ok(silent.connections() >= 5, `${silent.connections()} connections`);
  assert.deepEqual(await leftovers(tmp), []);
  assert.deepEqual(await world.snapshot(), before);
  t.diagnostic(`silent S3 endpoint: exit 1 after ${done.ms} ms, ${silent.connections()} connections`);
});
