import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { makeExample, type ExampleFormat } from '../helpers/archives.ts';
import { makeWorld } from '../helpers/world.ts';
import { git } from '../helpers/git.ts';

const formats: ExampleFormat[] = ['pulp', 'docker-archive', 'oci-archive', 'docker-save 25+'];

for (const format of formats) {
  test(`push publishes a ${format} archive to S3 and a git Crane app, masking the base layer; a rerun uploads nothing`, async (t) => {
    const world = await makeWorld(t, { storage: 's3', prefix: 'registries/' });
    const example = await makeExample({ dir: world.root, format, layers: 3, tag: '1.0' });
    const [base, ...own] = example.ids;
    // Mask the base layer through the configuration, as the original's [redhat] mask_layers.
    const cfg = `${world.configDir}/raas.cfg`;
    await git(world.configDir, 'config', 'user.name', 'test');
    const { readFile, writeFile } = await import('node:fs/promises');
    await writeFile(cfg, (await readFile(cfg, 'utf8')).replace('mask_layers = ', `mask_layers = ${base}`));
    await git(world.configDir, 'commit', '-qam', 'mask the base layer');
    await git(world.configDir, 'push', '-q');

    const first = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout);
    assert.equal(report.ok, true);
    assert.deepEqual(report.masked, [base]);
    assert.equal(report.uploaded.length, own.length * 3);
    assert.match(first.stderr, new RegExp(`Skipping layer ${base}`));

    const v1Objects = [...(await world.objects()).keys()].filter((key) => !key.startsWith('registries/acme-app/v2/'));
    const expected = own.flatMap((id) => ['ancestry', 'json', 'layer'].map((f) => `registries/acme-app/${id}/${f}`)).sort();
    assert.deepEqual(v1Objects.sort(), expected, 'only the ISV\'s own layers are in the v1 layout, under the prefix');
    const top = own.at(-1)!;
    assert.deepEqual(JSON.parse((await world.object(`registries/acme-app/${top}/ancestry`)).toString()), [...example.ids].reverse());
    const v1 = JSON.parse((await world.object(`registries/acme-app/${top}/json`)).toString());
    assert.equal(v1.id, top);
    assert.equal(v1.parent, own.at(-2));

    const metadata = await world.deployed('acme/app');
    assert.deepEqual(metadata.images.map((i) => i.id), own);
    assert.deepEqual(metadata.tags, { '1.0': top });
    assert.equal(metadata.url, `${world.s3!.endpoint}/${world.bucket}/registries/acme-app/`);

    const backup = await git(world.configRemote, 'show', 'HEAD:acme/metadata/acme-app.json');
    assert.deepEqual(JSON.parse(backup), metadata);
    const log = await git(world.configRemote, 'show', `HEAD:acme/logs/${new Date().toISOString().slice(0, 10)}.log`);
    assert.match(log, /"msg":"Skipping layer/);
    assert.match(await git(world.configRemote, 'log', '-1', '--format=%s'), /acme.*push.*acme\/app/);

    const before = await world.snapshot();
    const second = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--json', '--no-commit']);
    assert.equal(second.code, 0, second.stderr);
    const again = JSON.parse(second.stdout);
    assert.equal(again.uploaded.length, 0);
    assert.equal(again.present.length, own.length * 3);
    assert.equal(again.metadata.changed, false);
    assert.deepEqual(await world.snapshot(), before, 'an unchanged rerun changes nothing anywhere');
  });
}

test('base-image metadata masks its layers, is deployed beside the ISV\'s file, and Crane redirects each layer to its host', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const os = await import('node:os');
  const { startServer } = await import('../../src/serve/server.ts');
  const { dirSnapshot } = await import('../../src/serve/source.ts');
  const example = await makeExample({ dir: os.tmpdir(), format: 'oci-archive', layers: 2, tag: 'latest' });
  t.after(() => rm(example.file, { force: true }));
  const [base, own] = example.ids as [string, string];
  const rhel = JSON.stringify({
    type: 'pulp-docker-redirect', version: 1, repository: 'rhel7', 'repo-registry-id': 'rhel7', url: 'https://cdn.redhat.example/rhel7/',
    protected: false, images: [{ id: base }], tags: { latest: base },
  });
  const world = await makeWorld(t, { storage: 's3', baseMetadata: { 'rhel7.json': rhel } });

  const run = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout).masked, [base]);
  const v1Objects = [...(await world.objects()).keys()].filter((key) => !key.startsWith('acme-app/v2/'));
  assert.deepEqual(v1Objects.sort(), ['ancestry', 'json', 'layer'].map((f) => `acme-app/${own}/${f}`));

  // Serve the deployed data directory with the Crane-compatible front end, as the app would.
  const checkout = await mkdtemp(path.join(os.tmpdir(), 'raas-crane-'));
  t.after(() => rm(checkout, { recursive: true, force: true }));
  await git(checkout, 'clone', '-q', world.craneRemote, 'app');
  const crane = await startServer({ source: await dirSnapshot(path.join(checkout, 'app', 'crane/data')) });
  t.after(() => crane.close());
  const redirect = async (p: string) => (await fetch(`${crane.url}${p}`, { redirect: 'manual' })).headers.get('location');
  assert.equal(await redirect(`/v1/images/${base}/layer`), `https://cdn.redhat.example/rhel7/${base}/layer`);
  const ownLayer = await redirect(`/v1/images/${own}/layer`);
  assert.equal(ownLayer, `${world.s3!.endpoint}/${world.bucket}/acme-app/${own}/layer`);
  const tags = await (await fetch(`${crane.url}/v1/repositories/acme/app/tags`)).json();
  assert.deepEqual(tags, { latest: own });
  // The redirect target holds the layer's bytes (s3rver serves anonymous GETs of its objects).
  const fetched = Buffer.from(await (await fetch(ownLayer!)).arrayBuffer());
  assert.deepEqual(fetched, await world.object(`acme-app/${own}/layer`));
});
