import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { test } from 'node:test';
import { makeExample } from '../helpers/archives.ts';
import { commitToRemote, git } from '../helpers/git.ts';
import { startServe } from '../helpers/serve.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * raas serve follows the Crane app repository while it runs: a push is served after the
 * next poll without a restart, a file Crane cannot load is skipped while the others stay
 * served, and a remote that cannot be fetched leaves the last good data in place.
 */
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';

async function push(world: World, image: string, tag: string): Promise<string> {
  const example = await makeExample({ dir: world.root, format: 'docker-archive', name: image, tag, layers: 1 });
  const run = await world.raas(['push', 'acme', image, '--file', example.file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout).v2.manifests[tag];
}

const manifestDigest = async (url: string, image: string, tag: string): Promise<string | number> => {
  const response = await fetch(`${url}/v2/${image}/manifests/${tag}`, { headers: { Accept: SCHEMA2 } });
  await response.body?.cancel();
  return response.status === 200 ? response.headers.get('docker-content-digest')! : response.status;
};

test('a push made while raas serve runs is served after the next poll; a malformed file and an unreachable remote leave the rest served', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const one = await push(world, 'acme/one', '1.0');
  const served = await startServe(t, world, ['--poll', '0.5']);
  const first = await served.ready();
  assert.equal(first.commit, (await git(world.craneRemote, 'rev-parse', 'HEAD')).trim());
  assert.equal(await manifestDigest(served.url, 'acme/one', '1.0'), one);
  assert.equal(await manifestDigest(served.url, 'acme/two', '1.0'), 404);

  const two = await push(world, 'acme/two', '1.0');
  const second = await served.ready({ not: first.commit, timeoutMs: 10_000 });
  assert.equal(second.commit, (await git(world.craneRemote, 'rev-parse', 'HEAD')).trim());
  assert.equal(await manifestDigest(served.url, 'acme/two', '1.0'), two);
  assert.equal(await manifestDigest(served.url, 'acme/one', '1.0'), one);

  // Crane 3.3 skips a file it cannot load, and one without "repository" (this one, sorted last, would otherwise replace acme/one).
  await commitToRemote(world.craneRemote, {
    files: {
      'crane/data/broken.json': '{"version": 3, "repo-registry-id": ',
      'crane/data/zz-norepo@v2.json': JSON.stringify({ type: 'pulp-docker-redirect', version: 3, 'repo-registry-id': 'acme/one', url: 'http://127.0.0.1:9/nowhere/', schema2_data: ['1.0'] }),
    },
    message: 'a malformed redirect file',
  });
  const third = await served.ready({ not: second.commit, timeoutMs: 10_000 });
  assert.equal(third.repositories, second.repositories);
  assert.equal(await manifestDigest(served.url, 'acme/one', '1.0'), one);
  assert.equal(await manifestDigest(served.url, 'acme/two', '1.0'), two);
  assert.match(served.stderr(), /skipped crane\/data\/broken\.json: not valid JSON/);
  assert.match(served.stderr(), /skipped crane\/data\/zz-norepo@v2\.json: "repository" is missing/);

  // The remote gone: the last good data stays served.
  await rename(world.craneRemote, `${world.craneRemote}.away`);
  t.after(() => rename(`${world.craneRemote}.away`, world.craneRemote).catch(() => {}));
  const deadline = Date.now() + 10_000;
  while (!/cannot read the Crane data \(git fetch/.test(served.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(served.stderr(), /still serving the last good data/);
  assert.deepEqual(await served.ready(), third);
  assert.equal(await manifestDigest(served.url, 'acme/one', '1.0'), one);
  assert.equal(await served.stop(), 0);
});
