import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { assertConsistent, objectDigests, pulpArchive, visible } from '../helpers/reliability.ts';
import { makeWorld } from '../helpers/world.ts';

/**
 * Issue 5, part 2: storage faults injected by test/helpers/fault-proxy.ts between raas and
 * s3rver. Transient faults (500, 503, SlowDown, connections reset mid-body, delays) at a
 * 20% rate in all: the push completes with exactly the content of a fault-free push.
 * Permanent failures: a 403 fails at once (no retry) naming the bucket and key; a 503 that
 * never clears fails after a bounded number of attempts. Nothing is deployed when the
 * push fails.
 */

const MiB = 1024 * 1024;
const TRANSIENT = { error500: 0.04, error503: 0.04, slowDown: 0.04, reset: 0.04, delay: 0.04 };


const total = (p: FaultProxy) => Object.values(p.injected).reduce((a, b) => a + b, 0);

test('at 20% transient storage faults the push completes, with the same objects a fault-free push writes', async (t) => {
  const clean = await makeWorld(t, { storage: 's3' });
  const faulty = await makeWorld(t, { storage: 's3' });
  const rows: string[] = [];
  for (const seed of [1, 2, 3]) {
    // Small objects, and a layer big enough to go up in parts.
    const archive = await pulpArchive(faulty.root, { image: `acme/app${seed}`, tag: '1.0', layers: [20 * MiB, 4096, 4096, 4096] });
    const reference = await clean.raas(['push', 'acme', archive.image, '--file', archive.file]);
    assert.equal(reference.code, 0, reference.stderr);

    const proxy = await startFaultProxy({ target: faulty.s3!.endpoint, seed, rates: TRANSIENT, delayMs: 300 });
    t.after(() => proxy.stop());
    await faulty.useEndpoint(proxy.endpoint);
    const started = Date.now();
    const run = await faulty.raas(['-l', 'debug', 'push', 'acme', archive.image, '--file', archive.file]);
    const ms = Date.now() - started;
    assert.equal(run.code, 0, `seed ${seed}: ${JSON.stringify(proxy.injected)}\n${run.stderr}`);
    assert.ok(ms < 60_000, `seed ${seed} took ${ms} ms`);
    assert.ok(total(proxy) > 0, 'no fault was injected');

    const flat = archive.image.replace('/', '-');
    const mine = (objects: Map<string, string>) => new Map([...visible(objects)].filter(([k]) => k.startsWith(`${flat}/`)));
    assert.deepEqual(mine(await objectDigests(faulty)), mine(await objectDigests(clean)), `seed ${seed}: the objects differ from a fault-free push`);
    const state = await assertConsistent(faulty, archive.objects, { strict: true });
    assert.deepEqual(JSON.parse(state.deployed.get(`acme-${flat}.json`)!).tags, { '1.0': archive.ids.at(-1) });
    const failedAttempts = (run.stderr.match(/^debug: S3 request failed/gm) ?? []).length;
    rows.push(`| ${seed} | ${proxy.forwarded + total(proxy) - proxy.injected.delay - proxy.injected.reset} | ${proxy.injected.error500} | ${proxy.injected.error503} | ${proxy.injected.slowDown} | ${proxy.injected.reset} | ${proxy.injected.delay} | ${failedAttempts} | ${ms} |`);
  }
  t.diagnostic(['| seed | requests | 500 | 503 | SlowDown | reset | delay | failed attempts logged | ms |', ...rows].join('\n'));
});

test('a permanent 403 fails fast, naming bucket and key; nothing is deployed', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await startFaultProxy({ target: world.s3!.endpoint, permanent: [{ key: /\/layer$/, status: 403, code: 'AccessDenied' }] });
  t.after(() => proxy.stop());
  await world.useEndpoint(proxy.endpoint);
  const archive = await pulpArchive(world.root, { tag: '1.0', layers: [20 * MiB, 4096] });
  const before = await world.snapshot();
  const started = Date.now();
  const run = await world.raas(['push', 'acme', 'acme/app', '--file', archive.file, '--json']);
  const ms = Date.now() - started;
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /s3:\/\/acme-registry\/acme-app\/[0-9a-f]{64}\/layer: (PutObject|CreateMultipartUpload) is forbidden \(AccessDenied\)/);
  assert.match(run.stderr, /fix: grant s3:PutObject on arn:aws:s3:::acme-registry\/acme-app\/[0-9a-f]{64}\/layer/);
  assert.equal(JSON.parse(run.stdout).ok, false);
  assert.ok(ms < 10_000, `took ${ms} ms`);
  // Failing fast: no layer key was asked for more than once (a 403 is not retried).
  for (const id of archive.ids) assert.ok(proxy.requests(new RegExp(`${id}/layer$`)) <= 1, `${id}/layer was retried`);
  const after = await world.snapshot();
  assert.equal(after.craneRefs, before.craneRefs, 'something was deployed to the Crane app');
  assert.equal(after.configRefs, before.configRefs);
  await assertConsistent(world, archive.objects);
  t.diagnostic(`permanent 403 on layer keys: exit 1 after ${ms} ms, ${proxy.injected.permanent} requests refused, none retried, Crane app untouched`);
});

test('a 503 that never clears fails after a bounded number of attempts; nothing is deployed', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await startFaultProxy({ target: world.s3!.endpoint, permanent: [{ key: /\/layer$/, status: 503, code: 'SlowDown' }] });
  t.after(() => proxy.stop());
  await world.useEndpoint(proxy.endpoint);
  const archive = await pulpArchive(world.root, { tag: '1.0', layers: [4096, 4096] });
  const before = await world.snapshot();
  const started = Date.now();
  const run = await world.raas(['push', 'acme', 'acme/app', '--file', archive.file]);
  const ms = Date.now() - started;
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /s3:\/\/acme-registry\/acme-app\/[0-9a-f]{64}\/layer: PutObject failed: SlowDown/);
  const attempts = Math.max(...archive.ids.map((id) => proxy.requests(new RegExp(`${id}/layer$`))));
  assert.ok(attempts > 1 && attempts <= 5, `${attempts} attempts`);
  assert.ok(ms < 60_000, `took ${ms} ms`);
  assert.equal((await world.snapshot()).craneRefs, before.craneRefs, 'something was deployed to the Crane app');
  await assertConsistent(world, archive.objects);
  t.diagnostic(`permanent 503 SlowDown on layer keys: exit 1 after ${ms} ms and ${attempts} attempts per key, Crane app untouched`);
});
