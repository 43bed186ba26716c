import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { makeExample } from '../helpers/archives.ts';
import { makeWorld } from '../helpers/world.ts';

/** An http server answering 404 to everything, counting requests. */
async function notFoundServer(t: TestContext): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(404).end('not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests };
}

test("each command's --help shows the global options and the exit codes once", async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  for (const args of [['--help'], ['setup', '--help'], ['push', '--help'], ['status', '--help'], ['help', 'status']]) {
    const run = await world.raas(args);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.split('Exit codes:').length - 1, 1, `${args.join(' ')}: the exit codes once`);
    assert.match(run.stdout, /-c, --config-branch <branch>/, `${args.join(' ')}: global options`);
    if (args[0] !== '--help') assert.match(run.stdout, /^Global Options:$/m, args.join(' '));
  }
  const push = await world.raas(['push', '--help']);
  assert.match(push.stdout, /--tag <tag> +publish under this tag too, beside the archive's\s+own tags/);
  assert.match(push.stdout, /--only-tag <tag> +publish under this tag only, not the archive's/);
});

test('an archive URL answering 404 is "archive not found", exit 2, like a missing path; nothing is touched', async (t) => {
  const http = await notFoundServer(t);
  const world = await makeWorld(t, { storage: 's3', extraCfg: `[pulp]\nexport_url = ${http.url}exports/\n` });
  const before = await world.snapshot();
  const given = await world.raas(['push', 'acme', 'acme/app', '--file', `${http.url}gone.tar`]);
  assert.equal(given.code, 2, given.stderr);
  assert.match(given.stderr, new RegExp(`^Downloading ${http.url}gone\\.tar\\nraas push: --file: archive not found: ${http.url}gone\\.tar answered HTTP 404\\n  fix: check the URL\\n$`));
  const exported = await world.raas(['push', 'acme', 'acme/app']);
  assert.equal(exported.code, 2, exported.stderr);
  assert.match(exported.stderr, new RegExp(`\\[pulp\\] export_url: archive not found: ${http.url}exports/acme-acme-app\\.tar answered HTTP 404\\n  fix: check the ISV and image names`));
  assert.deepEqual(http.requests, ['/gone.tar', '/exports/acme-acme-app.tar'], 'a 404 is final: not retried');
  const missing = await world.raas(['push', 'acme', 'acme/app', '--file', 'nowhere.tar']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--file: archive not found: .*nowhere\.tar/);
  assert.deepEqual(await world.snapshot(), before);
});

test('a configuration repository branch that does not exist is a configuration error (2) whose fix names -c <branch>', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const env = { RAAS_CONF_REPO: world.configRemote };
  for (const [args, branch] of [[['-c', 'nosuch'], 'nosuch'], [[], 'stage']] as const) {
    const run = await world.raas([...args, 'status', 'acme'], { cwd: world.root, env });
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stderr, `raas status: -c, --config-branch (default stage): the configuration repository ${world.configRemote} has no branch '${branch}'\n  fix: pass -c <branch> with a branch it has (master), or create ${branch} there\n`);
  }
});

test('push warns when the metadata sends clients to a URL that is not http(s); --only-tag publishes that tag alone', async (t) => {
  const local = await makeWorld(t, { storage: 'file' });
  const example = await makeExample({ dir: local.root, format: 'docker-archive', layers: 1, tag: '1.0' });
  const pushed = await local.raas(['push', 'acme', 'acme/app', '--file', example.file]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stderr, new RegExp(`^warn: the metadata sends clients to file://${local.storageDir}/acme-app/, which no registry client can fetch: set public_url in \\[acme\\] to the http\\(s\\) URL a web server publishes the storage at$`, 'm'));

  const world = await makeWorld(t, { storage: 's3' });
  const only = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--only-tag', 'release-7', '--json']);
  assert.equal(only.code, 0, only.stderr);
  assert.doesNotMatch(only.stderr, /no registry client can fetch/, 'an http store URL is not warned about');
  assert.deepEqual(JSON.parse(only.stdout).tags, { 'release-7': example.ids.at(-1) });
  assert.deepEqual((await world.deployed('acme/app')).tags, { 'release-7': example.ids.at(-1) }, "not the archive's 1.0");
  const added = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--tag', 'stable']);
  assert.equal(added.code, 0, added.stderr);
  assert.deepEqual((await world.deployed('acme/app')).tags, { 'release-7': example.ids.at(-1), '1.0': example.ids.at(-1), stable: example.ids.at(-1) });
  const both = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--tag', 'a', '--only-tag', 'b']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /option '--only-tag <tag>' cannot be used with option '--tag <tag>'/);
  const bad = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--only-tag', 'no good']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--only-tag: 'no good' is not a valid tag/);
});
