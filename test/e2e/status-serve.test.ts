import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeExample } from '../helpers/archives.ts';
import { git } from '../helpers/git.ts';
import { freePort, startServe } from '../helpers/serve.ts';
import { editConfig } from '../helpers/registry.ts';
import { makeWorld, type World } from '../helpers/world.ts';

interface Check { check: string; subject: string; outcome: 'ok' | 'warning' | 'failed'; detail: string }

const statusOf = async (world: World) => {
  const run = await world.raas(['--no-commit', 'status', 'acme', '--json']);
  const report = JSON.parse(run.stdout) as { checks: Check[] };
  return { code: run.code, stderr: run.stderr, checks: report.checks, find: (name: string) => report.checks.find((c) => c.check === name) };
};
const problems = (checks: readonly Check[]) => checks.filter((c) => c.outcome !== 'ok').map((c) => [c.check, c.outcome]);
const head = async (world: World) => (await git(world.craneRemote, 'rev-parse', 'HEAD')).trim();

test('status checks the registry through a real raas serve (file store): healthy, behind the app repository, stale, down', { timeout: 90_000 }, async (t) => {
  const world = await makeWorld(t, { storage: 'file', platform: 'git' });
  // raas serve is the registry and streams the directory itself; its URL is both registry_url and public_url.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await editConfig(world, (text) => text
    .replace(/^registry_url = .*$/m, `registry_url = ${url}`)
    .replace(/^storage = file$/m, `storage = file\npublic_url = ${url}/`));
  const push = async (tag: string) => {
    const example = await makeExample({ dir: world.root, format: 'oci-archive', layers: 2, tag, name: 'acme/app' });
    const pushed = await world.raas(['push', 'acme', 'acme/app', '--file', example.file]);
    assert.equal(pushed.code, 0, pushed.stderr);
  };
  await push('1.0');
  await git(world.configDir, 'pull', '-q');
  // A poll longer than the test: raas serve reads the app repository once, at start.
  const served = await head(world);
  const server = await startServe(t, world, ['--listen', `127.0.0.1:${port}`, '--poll', '3600']);
  assert.equal((await server.ready()).commit, served);

  const healthy = await statusOf(world);
  assert.equal(healthy.code, 0, `${healthy.stderr}\n${JSON.stringify(healthy.checks.filter((c) => c.outcome !== 'ok'))}`);
  assert.deepEqual(problems(healthy.checks), []);
  assert.equal(healthy.find('registry')!.detail, '/v1/_ping: true; /v2/: HTTP 200 (raas serve)');
  assert.equal(healthy.find('registry-data')!.detail, `raas serve serves commit ${served.slice(0, 12)}, 2 repositories, the app repository's latest`);
  assert.equal(healthy.find('crane-config')!.detail, 'not needed: the registry is raas serve, which reads crane/data itself');
  assert.match(healthy.find('v2-tags')!.detail, /^1 tag resolves through the registry's \/v2\//);
  assert.match(healthy.find('tags')!.detail, /^1 tag resolves through the registry/);

  // Tag 1.0 moves to another image while raas serve still serves the commit it read: it is
  // behind the app repository, and what it answers for 1.0 is not what the store now holds.
  await push('1.0');
  await git(world.configDir, 'pull', '-q');
  assert.notEqual(await head(world), served);
  const behind = await statusOf(world);
  assert.equal(behind.code, 1);
  assert.deepEqual(problems(behind.checks), [['registry-data', 'warning'], ['tags', 'failed'], ['v2-tags', 'failed']]);
  assert.match(behind.find('registry-data')!.detail, new RegExp(`serves commit ${served.slice(0, 12)}, 2 repositories, but the app repository is at ${(await head(world)).slice(0, 12)}`));
  assert.match(behind.find('v2-tags')!.detail, /^\/v2\/acme\/app\/manifests\/1\.0 is served as sha256:[0-9a-f]{64}, but the store holds sha256:[0-9a-f]{64}/);

  // A restarted server reads the latest commit: healthy again.
  assert.equal(await server.stop(), 0, 'SIGTERM: exit 0');
  const again = await startServe(t, world, ['--listen', `127.0.0.1:${port}`, '--poll', '3600']);
  assert.equal((await again.ready()).commit, await head(world));
  const caughtUp = await statusOf(world);
  assert.equal(caughtUp.code, 0, caughtUp.stderr);
  assert.deepEqual(problems(caughtUp.checks), []);

  // The registry down: status fails it, says the tags were not checked, and (not knowing
  // the front end now) warns that no crane.conf would make a Crane read crane/data.
  await again.stop();
  const down = await statusOf(world);
  assert.equal(down.code, 1);
  assert.deepEqual(problems(down.checks), [['registry', 'failed'], ['crane-config', 'warning']]);
  assert.match(down.find('registry')!.detail, /ECONNREFUSED.*tags not checked/);
});
