import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filesAt, git } from '../helpers/git.ts';
import { freePort, startServe } from '../helpers/serve.ts';
import { editConfig } from '../helpers/registry.ts';
import { makeWorld } from '../helpers/world.ts';

interface Step { step: string; status: string; detail?: string; fix?: string }

test('git platform without a Crane source: setup makes the app repository for raas serve, prints how to run it, and checks the registry through it', { timeout: 90_000 }, async (t) => {
  // No [openshift] app_git_url: the front end is raas serve, which needs no Crane code.
  const world = await makeWorld(t, { storage: 'file', platform: 'git', empty: true });
  const registry = new URL(world.registryUrl);
  await editConfig(world, (text) => text.replace(/^registry_url = .*$/m, `registry_url = ${world.registryUrl}`));

  // The first run's registry check is not judged here: nothing serves this app repository yet.
  const first = await world.raas(['setup', 'acme', '--create', '--json']);
  assert.ok(first.code === 0 || first.code === 1, first.stderr);
  const steps = new Map((JSON.parse(first.stdout) as { steps: Step[] }).steps.map((s) => [s.step, s]));
  assert.deepEqual([steps.get('Crane code')?.status, steps.get('Crane code')?.detail], ['skipped', 'no [openshift] app_git_url: none needed, raas serve acme is the front end']);
  assert.equal(steps.get('Crane configuration crane.conf')?.status, 'done');
  assert.match(steps.get('Crane configuration crane.conf')!.detail!, new RegExp(`serve it with raas serve acme --listen 127\\.0\\.0\\.1:${registry.port} \\(or start Crane`));
  assert.deepEqual([...(await filesAt(world.craneRemote)).keys()], ['crane.conf'], 'the empty app repository starts with crane.conf alone');

  // The real front end: raas serve on the registry_url port, reading the app repository setup made.
  const port = await freePort();
  await editConfig(world, (text) => text.replace(/^registry_url = .*$/m, `registry_url = http://127.0.0.1:${port}`));
  const server = await startServe(t, world, ['--listen', `127.0.0.1:${port}`]);
  assert.equal((await server.ready()).commit, (await git(world.craneRemote, 'rev-parse', 'HEAD')).trim());
  const craneRefs = await git(world.craneRemote, 'for-each-ref');
  const again = await world.raas(['setup', 'acme', '--json']);
  assert.equal(again.code, 0, again.stderr);
  const served = (JSON.parse(again.stdout) as { steps: Step[] }).steps.find((s) => s.step === `registry http://127.0.0.1:${port}`);
  assert.deepEqual([served?.status, served?.detail], ['ok', '/v1/_ping: true; /v2/: HTTP 200']);
  assert.equal(await git(world.craneRemote, 'for-each-ref'), craneRefs, 'a second setup leaves the app repository alone');
  assert.match(server.stderr(), /"GET \/v1\/_ping" 200/);
});
