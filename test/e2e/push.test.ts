import assert from 'node:assert/strict';
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

    const objects = await world.objects();
    const expected = own.flatMap((id) => ['ancestry', 'json', 'layer'].map((f) => `registries/acme-app/${id}/${f}`)).sort();
    assert.deepEqual([...objects.keys()].sort(), expected, 'only the ISV\'s own layers are in the bucket, under the prefix');
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
