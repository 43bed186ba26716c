import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { makeExample } from '../helpers/archives.ts';
import { git } from '../helpers/git.ts';
import { makeWorld } from '../helpers/world.ts';

test('openshift platform: app facts from rhc, file storage, gzip archive found as ./<image>.tar, registry pinged, --terse', async (t) => {
  const world = await makeWorld(t, { storage: 'file', platform: 'openshift' });
  const example = await makeExample({ dir: world.root, format: 'oci-archive', layers: 2, tag: 'v2', gzip: true });
  const workDir = path.join(world.root, 'work');
  await mkdir(workDir);
  await copyFile(example.file, path.join(workDir, 'acme-app.tar'));

  const run = await world.raas(['--config', world.configDir, 'push', 'acme', 'acme/app', '--terse'], { cwd: workDir });
  assert.equal(run.code, 0, run.stderr);
  const host = new URL(world.registryUrl).host;
  assert.equal(run.stdout, `${host}/acme/app\n`, '--terse prints only the pull reference');
  assert.match(run.stderr, /Using local file acme-app.tar/);

  const calls = await world.rhc!.invocations();
  assert.ok(calls.some((argv) => argv.join(' ') === 'app show registry -n acme'), JSON.stringify(calls));
  const metadata = await world.deployed('acme/app');
  assert.deepEqual(metadata.images.map((i) => i.id), example.ids);
  assert.equal(metadata.url, `file://${world.storageDir}/acme-app/`);
  for (const id of example.ids) {
    for (const kind of ['layer', 'json', 'ancestry']) assert.ok((await world.objects()).has(`acme-app/${id}/${kind}`), `${id}/${kind}`);
  }
  // The layer bytes are the archive's blobs, gzip and all (v1 clients accept compressed layers).
  const layer = await world.object(`acme-app/${example.ids[0]}/layer`);
  assert.deepEqual([layer[0], layer[1]], [0x1f, 0x8b]);
});

test('RAAS_CONF_REPO is cloned at the -c branch, and the backup is pushed back to it', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  await git(world.configRemote, 'branch', 'stage', 'master');
  const example = await makeExample({ dir: world.root, format: 'docker-archive', layers: 1, tag: '1.0' });
  const elsewhere = path.join(world.root, 'elsewhere');
  await mkdir(elsewhere);
  const run = await world.raas(['-c', 'stage', 'push', 'acme', 'acme/app', '--file', example.file], {
    cwd: elsewhere,
    env: { RAAS_CONF_REPO: world.configRemote },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /docker pull registry\.acme\.test:5000\/acme\/app\n$/);
  assert.match(await git(world.configRemote, 'log', '-1', '--format=%s', 'stage'), /push/);
  assert.equal((await git(world.configRemote, 'log', '--format=%s', 'master')).trim().split('\n').length, 1, 'master untouched');
  const backup = JSON.parse(await git(world.configRemote, 'show', 'stage:acme/metadata/acme-app.json'));
  assert.deepEqual(backup, await world.deployed('acme/app'));
});

test('the archive is downloaded from [pulp] export_url when there is no --file and no local file', async (t) => {
  const example = await makeExample({ dir: (await import('node:os')).tmpdir(), format: 'pulp', layers: 2, tag: 'latest' });
  t.after(() => import('node:fs/promises').then((fs) => fs.rm(example.file, { force: true })));
  const body = await readFile(example.file);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/pulp/exports/acme-acme-app.tar') res.writeHead(200, { 'content-length': body.length }).end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const world = await makeWorld(t, { storage: 'file', extraCfg: `[pulp]\nexport_url = http://127.0.0.1:${port}/pulp/exports/\n` });

  const run = await world.raas(['push', 'acme', 'acme/app', '--json', '--no-commit']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(requests, ['/pulp/exports/acme-acme-app.tar']);
  const report = JSON.parse(run.stdout);
  assert.equal(report.archive.format, 'pulp');
  assert.equal(report.archive.origin, `http://127.0.0.1:${port}/pulp/exports/acme-acme-app.tar`);
  assert.equal(report.backup, undefined, '--no-commit leaves the configuration repository alone');
  assert.deepEqual((await world.deployed('acme/app')).tags, { latest: example.ids.at(-1) });
});

test('--dry-run writes nothing; pushing another tag adds it beside the first; --tag names an untagged push', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const v1 = await makeExample({ dir: world.root, format: 'docker-save 1.10-24', layers: 2, tag: '1.0' });
  const before = await world.snapshot();
  const dry = await world.raas(['push', 'acme', 'acme/app', '--file', v1.file, '--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout);
  assert.equal(plan.dryRun, true);
  assert.equal(plan.uploaded.length, 6);
  assert.deepEqual(await world.snapshot(), before, '--dry-run changed something');

  assert.equal((await world.raas(['push', 'acme', 'acme/app', '--file', v1.file])).code, 0);
  const v2 = await makeExample({ dir: world.root, format: 'docker-save 1.10-24', layers: [...v1.layers, ...(await makeExample({ dir: world.root, format: 'pulp', layers: 1 })).layers], tag: '2.0' });
  const second = await world.raas(['push', 'acme', 'acme/app', '--file', v2.file, '--tag', 'stable', '--json']);
  assert.equal(second.code, 0, second.stderr);
  // The base layer is the same v1 image in both; the old top is a new v1 image now that it has a child.
  assert.deepEqual(JSON.parse(second.stdout).present.sort(), ['json', 'ancestry', 'layer'].map((f) => `acme-app/${v1.ids[0]}/${f}`).sort());
  const metadata = await world.deployed('acme/app');
  assert.deepEqual(metadata.tags, { '1.0': v1.ids.at(-1), '2.0': v2.ids.at(-1), stable: v2.ids.at(-1) });
  assert.deepEqual(metadata.images.map((i) => i.id), [...new Set([...v1.ids, ...v2.ids])]);
});
