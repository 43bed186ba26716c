import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { git } from '../helpers/git.ts';
import {
  assertConsistent, makePauses, metadataFiles, pulpArchive, startGateProxy, startRaas, waitForFile, type Finished, type PulpArchive,
} from '../helpers/reliability.ts';
import { makeWorld, type RunResult, type World } from '../helpers/world.ts';

/**
 * Issue 5, part 4: concurrent runs. The Crane app is kept by safe merging: every push
 * renders the redirect file from what is deployed, and a push that loses the race (the
 * remote moved) catches up and renders it again on top. The configuration repository is
 * kept by rebase and retry, log files merging as a union; runs sharing one working copy
 * take turns through a lock (.git/raas-backup.lock, waited for up to 120 s); and the
 * metadata backup is read from the Crane app when the backup lands, so whichever run
 * finishes last, the backup equals what is deployed.
 *
 * Races are forced, not hoped for: one run is paused (by a git wrapper or hook) at the
 * critical moment while the other runs through.
 */

const today = () => new Date().toISOString().slice(0, 10);

/** Messages of a run's stderr (-l debug) up to its deployment: its log lines that the backup commits. */
function loggedBeforeBackup(stderr: string): string[] {
  const lines = stderr.split('\n');
  const end = lines.findIndex((l) => /^(Deployed |The Crane app already serves)/.test(l));
  return lines.slice(0, end + 1).filter(Boolean).map((l) => l.replace(/^(debug|warn|error): /, ''));
}

/** Every message each run logged before its backup is in the day's log of the configuration repository, as often as logged. */
async function assertNoLogLineLost(world: World, runs: readonly (RunResult | Finished)[]): Promise<number> {
  const log = await git(world.configRemote, 'show', `HEAD:acme/logs/${today()}.log`);
  const logged = new Map<string, number>();
  for (const line of log.split('\n').filter(Boolean)) {
    const msg = (JSON.parse(line) as { msg: string }).msg;
    logged.set(msg, (logged.get(msg) ?? 0) + 1);
  }
  const wanted = new Map<string, number>();
  for (const run of runs) for (const msg of loggedBeforeBackup(run.stderr)) wanted.set(msg, (wanted.get(msg) ?? 0) + 1);
  for (const [msg, count] of wanted) assert.ok((logged.get(msg) ?? 0) >= count, `log line lost: ${JSON.stringify(msg)} (${count} logged, ${logged.get(msg) ?? 0} committed)`);
  return log.split('\n').filter(Boolean).length;
}

/** What each image's deployed file holds, and that its backup is byte for byte the same. */
async function assertBackupIsDeployed(world: World, expected: Map<string, string>): Promise<Map<string, { images: string[]; tags: Record<string, string> }>> {
  const state = await assertConsistent(world, expected, { strict: true });
  const out = new Map<string, { images: string[]; tags: Record<string, string> }>();
  for (const [name, text] of state.deployed) {
    if (!name.startsWith('acme-')) continue;
    assert.equal(state.backup.get(name.slice('acme-'.length)), text, `the backup of ${name} is not what is deployed`);
    const parsed = JSON.parse(text);
    if (parsed.version === 1) out.set(name, { images: parsed.images.map((i: { id: string }) => i.id), tags: parsed.tags });
  }
  return out;
}

const push = (archive: PulpArchive) => ['-l', 'debug', 'push', 'acme', archive.image, '--file', archive.file];
const add = (expected: Map<string, string>, ...archives: PulpArchive[]) => archives.forEach((a) => a.objects.forEach((v, k) => expected.set(k, v)));

test('two pushes of different images at once: the Crane push that loses the race catches up; both deployed, both backed up', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const pauses = await makePauses(t, world.root);
  const expected = new Map<string, string>();
  const a = await pulpArchive(world.root, { image: 'acme/app', tag: '1.0', layers: [2048, 2048] });
  const b = await pulpArchive(world.root, { image: 'acme/other', tag: '1.0', layers: [2048, 2048] });
  add(expected, a, b);

  // A has committed its metadata in its clone of the Crane app and is about to push; B runs through.
  const pause = pauses.git('push', '*/app/clone-*');
  const runA = startRaas(t, world, push(a), { env: pause.env });
  await waitForFile(pause.marker, { while: runA });
  const runB = await world.raas(push(b));
  assert.equal(runB.code, 0, runB.stderr);
  await pause.release();
  const doneA = await runA.done;
  assert.equal(doneA.code, 0, doneA.stderr);
  assert.match(doneA.stderr, /the Crane app repository changed while pushing; catching up/);

  const state = await assertBackupIsDeployed(world, expected);
  assert.deepEqual(state.get('acme-acme-app.json')!.tags, { '1.0': a.ids.at(-1) });
  assert.deepEqual(state.get('acme-acme-other.json')!.tags, { '1.0': b.ids.at(-1) });
  await assertNoLogLineLost(world, [doneA, runB]);

  // And without forcing: three rounds of two pushes started together.
  const runs: RunResult[] = [];
  for (let round = 1; round <= 3; round++) {
    const x = await pulpArchive(world.root, { image: 'acme/app', tag: `x${round}`, layers: [2048] });
    const y = await pulpArchive(world.root, { image: 'acme/other', tag: `y${round}`, layers: [2048] });
    add(expected, x, y);
    const both = await Promise.all([world.raas(push(x)), world.raas(push(y))]);
    for (const r of both) assert.equal(r.code, 0, r.stderr);
    runs.push(...both);
  }
  const final = await assertBackupIsDeployed(world, expected);
  assert.deepEqual(Object.keys(final.get('acme-acme-app.json')!.tags).sort(), ['1.0', 'x1', 'x2', 'x3']);
  assert.deepEqual(Object.keys(final.get('acme-acme-other.json')!.tags).sort(), ['1.0', 'y1', 'y2', 'y3']);
  const lines = await assertNoLogLineLost(world, [doneA, runB, ...runs]);
  t.diagnostic(`different images: 1 forced race + 3 free rounds, 8 pushes, all deployed and backed up; ${lines} log lines committed, none lost`);
});

test('two pushes of the same image at once: neither loses the other\'s tag, and the backup is what the Crane app serves', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const pauses = await makePauses(t, world.root);
  const expected = new Map<string, string>();

  // 1. Race at the Crane push: A re-renders the file on top of B's.
  const a1 = await pulpArchive(world.root, { tag: 'a1', layers: [2048, 2048] });
  const b1 = await pulpArchive(world.root, { tag: 'b1', layers: [2048, 2048] });
  add(expected, a1, b1);
  const atPush = pauses.git('push', '*/app/clone-*');
  const runA1 = startRaas(t, world, push(a1), { env: atPush.env });
  await waitForFile(atPush.marker, { while: runA1 });
  const runB1 = await world.raas(push(b1));
  assert.equal(runB1.code, 0, runB1.stderr);
  await atPush.release();
  const doneA1 = await runA1.done;
  assert.equal(doneA1.code, 0, doneA1.stderr);
  assert.match(doneA1.stderr, /catching up/);
  let state = await assertBackupIsDeployed(world, expected);
  assert.deepEqual(state.get('acme-acme-app.json')!.tags, { a1: a1.ids.at(-1), b1: b1.ids.at(-1) });

  // 2. A deployed first but backs up last (paused right after its deployment): its backup
  //    must not put back the file without B's tag.
  const a2 = await pulpArchive(world.root, { tag: 'a2', layers: [2048] });
  const b2 = await pulpArchive(world.root, { tag: 'b2', layers: [2048] });
  add(expected, a2, b2);
  const afterDeploy = pauses.git('rev-parse', '*/app/clone-*');
  const runA2 = startRaas(t, world, push(a2), { env: afterDeploy.env });
  await waitForFile(afterDeploy.marker, { while: runA2 });
  const runB2 = await world.raas(push(b2));
  assert.equal(runB2.code, 0, runB2.stderr);
  await afterDeploy.release();
  const doneA2 = await runA2.done;
  assert.equal(doneA2.code, 0, doneA2.stderr);
  state = await assertBackupIsDeployed(world, expected);
  assert.deepEqual(Object.keys(state.get('acme-acme-app.json')!.tags).sort(), ['a1', 'a2', 'b1', 'b2']);

  // 3. The same archive twice at once: same objects, same file, no harm.
  const same = await pulpArchive(world.root, { tag: 'same', layers: [2048, 2048, 2048] });
  add(expected, same);
  const twice = await Promise.all([world.raas(push(same)), world.raas(push(same))]);
  for (const r of twice) assert.equal(r.code, 0, r.stderr);
  state = await assertBackupIsDeployed(world, expected);
  assert.deepEqual(Object.keys(state.get('acme-acme-app.json')!.tags).sort(), ['a1', 'a2', 'b1', 'b2', 'same']);
  assert.equal(state.get('acme-acme-app.json')!.images.length, 2 + 2 + 1 + 1 + 3);
  const lines = await assertNoLogLineLost(world, [doneA1, runB1, doneA2, runB2, ...twice]);
  t.diagnostic(`same image: race at the Crane push, deploy-first-backup-last, identical pushes together: all tags kept, backup == deployed, ${lines} log lines, none lost`);
});

test('two pushes of the same image whose storage writes overlap: the v2 tag list keeps both tags', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await startGateProxy(t, world.s3!.endpoint);
  await world.useEndpoint(proxy.endpoint);
  const expected = new Map<string, string>();
  const a = await pulpArchive(world.root, { tag: 'a', layers: [2048] });
  const b = await pulpArchive(world.root, { tag: 'b', layers: [2048] });
  add(expected, a, b);

  // A has listed the app's prefix and is held at its first upload; B runs through; then A finishes.
  const held = proxy.hold((r) => r.method === 'PUT' && r.key.startsWith('acme-app/'));
  const runA = startRaas(t, world, push(a));
  const gate = await Promise.race([held, runA.done.then((f) => assert.fail(`A ended first:\n${f.stderr}`))]);
  const runB = await world.raas(push(b));
  assert.equal(runB.code, 0, runB.stderr);
  gate.release();
  const doneA = await runA.done;
  assert.equal(doneA.code, 0, doneA.stderr);
  // Both tags are deployed (the Crane app file is merged), so the tag list must name both.
  await assertBackupIsDeployed(world, expected);
});

test('runs sharing one working copy take turns through the backup lock; a lock left by a dead run is taken over', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const pauses = await makePauses(t, world.root);
  const expected = new Map<string, string>();
  const a = await pulpArchive(world.root, { tag: 'a', layers: [2048] });
  const b = await pulpArchive(world.root, { tag: 'b', layers: [2048] });
  add(expected, a, b);

  // A is inside `git commit` of its backup (holding git's index.lock and raas's lock); B must wait, not fail.
  const hook = await pauses.hook(world.configDir, 'pre-commit');
  const runA = startRaas(t, world, push(a));
  await waitForFile(hook.marker, { while: runA });
  await hook.remove();
  const runB = startRaas(t, world, push(b));
  await runB.line(/^waiting for another raas run \(process \d+\) to finish its backup/);
  await hook.release();
  const [doneA, doneB] = await Promise.all([runA.done, runB.done]);
  assert.equal(doneA.code, 0, doneA.stderr);
  assert.equal(doneB.code, 0, doneB.stderr);
  const state = await assertBackupIsDeployed(world, expected);
  assert.deepEqual(Object.keys(state.get('acme-acme-app.json')!.tags).sort(), ['a', 'b']);
  assert.equal(await git(world.configDir, 'status', '--porcelain'), '');
  assert.ok(!existsSync(path.join(world.configDir, '.git', 'raas-backup.lock')));
  await assertNoLogLineLost(world, [doneA, doneB]);

  // A lock whose process is gone (a run killed by SIGKILL) does not block the next run.
  const c = await pulpArchive(world.root, { tag: 'c', layers: [2048] });
  add(expected, c);
  await writeFile(path.join(world.configDir, '.git', 'raas-backup.lock'), `2147483646 ${(await import('node:os')).hostname()}\n`);
  const runC = await world.raas(push(c));
  assert.equal(runC.code, 0, runC.stderr);
  assert.match(runC.stderr, /removed the lock of raas process 2147483646, which ended without releasing it/);
  await assertBackupIsDeployed(world, expected);
  t.diagnostic('shared working copy: the second run waited for the lock instead of failing on index.lock; a stale lock was taken over');
});

test('two operators with their own working copies push to the configuration repository at once: both commits land, no log line lost', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const pauses = await makePauses(t, world.root);
  const other = path.join(world.root, 'operator2');
  await git(world.root, 'clone', '-q', world.configRemote, other);
  const expected = new Map<string, string>();
  // The same image, so their metadata backups touch the same file.
  const a = await pulpArchive(world.root, { tag: 'op1', layers: [2048, 2048] });
  const b = await pulpArchive(world.root, { tag: 'op2', layers: [2048, 2048] });
  add(expected, a, b);

  // Operator 1 has committed its backup and is about to push; operator 2 pushes first.
  const pause = pauses.git('push', world.configDir);
  const run1 = startRaas(t, world, push(a), { env: pause.env });
  await waitForFile(pause.marker, { while: run1 });
  const run2 = await world.raas(push(b), { cwd: other });
  assert.equal(run2.code, 0, run2.stderr);
  await pause.release();
  const done1 = await run1.done;
  assert.equal(done1.code, 0, done1.stderr);
  assert.match(done1.stderr, /the configuration repository changed while pushing; catching up/);

  const subjects = (await git(world.configRemote, 'log', '--format=%s')).split('\n');
  assert.equal(subjects.filter((s) => s === 'acme: raas push acme/app').length, 2, `both backups are committed:\n${subjects.join('\n')}`);
  const state = await assertBackupIsDeployed(world, expected);
  assert.deepEqual(Object.keys(state.get('acme-acme-app.json')!.tags).sort(), ['op1', 'op2']);
  const lines = await assertNoLogLineLost(world, [done1, run2]);
  assert.equal(await git(world.configDir, 'status', '--porcelain'), '');
  const files = await metadataFiles(world.configRemote, 'acme/metadata');
  assert.ok(files.has('acme-app.json'));
  t.diagnostic(`two operators: the later push rebased (logs merged as a union, metadata rewritten as deployed) and landed; ${lines} log lines, none lost`);
});
