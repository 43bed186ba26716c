import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { readArchive } from '../../src/image/read.ts';
import { makeExample } from '../helpers/archives.ts';
import { startBaseParty } from '../helpers/base-party.ts';
import { startStockRegistry, type StockRegistry } from '../helpers/docker-registry.ts';
import { git, tempDir } from '../helpers/git.ts';
import { checkPulls, publishEachFormat, skopeo } from '../helpers/serve.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * layout = distribution end to end: raas writes Distribution's storage layout, Debian's
 * docker-registry (Distribution 2.8) is started on the same storage with the config
 * `raas registry-config` printed, and skopeo pulls what raas pushed, by tag and by digest,
 * with the archives' config and layer digests. Status reads the same layout.
 */

/** Set a key of [acme] in raas.cfg and commit it, as an operator would. */
async function setIsvKey(world: World, line: string): Promise<void> {
  const cfg = path.join(world.configDir, 'raas.cfg');
  await writeFile(cfg, (await readFile(cfg, 'utf8')).replace(/^\[acme\]\n/m, `[acme]\n${line}\n`));
  await git(world.configDir, 'commit', '-qam', line);
  await git(world.configDir, 'push', '-q');
}

async function status(world: World) {
  const run = await world.raas(['status', 'acme', '--json', '--no-commit']);
  return { code: run.code, report: JSON.parse(run.stdout) as { ok: boolean; checks: { check: string; subject: string; outcome: string; detail: string }[] }, stderr: run.stderr };
}

const failed = (report: { checks: { check: string; subject: string; outcome: string; detail: string }[] }) => report.checks.filter((c) => c.outcome !== 'ok');

test('S3 with a key prefix and a custom endpoint: a stock registry serves docker-archive, oci-archive and Pulp pushes by tag and digest; a shared blob is stored once; status sees removed blobs and dangling tags', async (t) => {
  const world = await makeWorld(t, { storage: 's3', platform: 'none', prefix: 'tenants/acme', isvLines: ['root_directory = registry'] });
  const published = await publishEachFormat(world);
  const root = 'tenants/acme/registry/docker/registry/v2/';
  const keys = [...(await world.objects()).keys()];
  assert.ok(keys.length > 0 && keys.every((k) => k.startsWith(root)), `keys outside ${root}: ${keys.filter((k) => !k.startsWith(root)).join(', ')}`);

  // The same archive under a second name: every blob is there already, only the links are new.
  const again = await world.raas(['push', 'acme', 'acme/copy', '--file', published[0]!.example.file, '--json']);
  assert.equal(again.code, 0, again.stderr);
  const copy = JSON.parse(again.stdout);
  const blobsWritten = copy.distribution.uploaded.filter((o: { key: string }) => o.key.includes('/blobs/'));
  assert.deepEqual(blobsWritten, [], 'a blob another repository stored was uploaded again');
  assert.equal(copy.distribution.manifests['1.0'], published[0]!.digest);
  const blobKeys = [...(await world.objects()).keys()].filter((k) => k.startsWith(`${root}blobs/`));
  assert.equal(blobKeys.length, new Set(blobKeys).size);
  assert.equal(blobKeys.length, 3 * 4, 'each image\'s two layers, config and manifest, stored once for the four repositories');

  const config = await world.raas(['registry-config', 'acme', '--listen', '127.0.0.1:5000']);
  assert.equal(config.code, 0, config.stderr);
  assert.doesNotMatch(config.stdout, new RegExp(world.s3!.credentials.secretAccessKey), 'a secret was printed');
  assert.match(config.stdout, /rootdirectory: \/tenants\/acme\/registry/);
  const registry = await startStockRegistry(t, config.stdout, { AWS_ACCESS_KEY_ID: world.s3!.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: world.s3!.credentials.secretAccessKey });
  const pulls = async (r: StockRegistry) => {
    for (const p of [...published, { ...published[0]!, image: 'acme/copy' }]) await checkPulls(t, r.host, p).catch((error: Error) => assert.fail(`${error.message}\nregistry log:\n${r.log().slice(-3000)}`));
  };
  await pulls(registry);

  await setIsvKey(world, `registry_url = ${registry.url}`);
  const healthy = await status(world);
  assert.equal(healthy.code, 0, JSON.stringify(failed(healthy.report)));
  assert.deepEqual(healthy.report.checks.filter((c) => c.check === 'registry-tags').map((c) => [c.subject, c.outcome]).sort(),
    [['acme/copy', 'ok'], ['acme/docker', 'ok'], ['acme/oci', 'ok'], ['acme/pulp', 'ok']]);

  // A removed layer blob: the repositories that use it fail, naming it.
  const layer = published[1]!.layerDigests[0]!.slice('sha256:'.length);
  const layerKey = `${root}blobs/sha256/${layer.slice(0, 2)}/${layer}/data`;
  const bytes = await world.object(layerKey);
  await world.s3!.client.send(new DeleteObjectCommand({ Bucket: world.bucket, Key: layerKey }));
  const noBlob = await status(world);
  assert.equal(noBlob.code, 1);
  assert.deepEqual(failed(noBlob.report).map((c) => [c.check, c.subject]), [['repository', 'acme/oci']]);
  assert.match(failed(noBlob.report)[0]!.detail, new RegExp(`blob sha256:${layer} of tag 1.0 is missing`));
  await world.s3!.client.send(new (await import('@aws-sdk/client-s3')).PutObjectCommand({ Bucket: world.bucket, Key: layerKey, Body: bytes }));

  // A tag whose current link names a manifest that is no revision of the repository.
  const digest = published[2]!.digest.slice('sha256:'.length);
  const revision = `${root}repositories/acme/pulp/_manifests/revisions/sha256/${digest}/link`;
  await world.s3!.client.send(new DeleteObjectCommand({ Bucket: world.bucket, Key: revision }));
  const dangling = await status(world);
  assert.equal(dangling.code, 1);
  const problems = failed(dangling.report);
  assert.deepEqual(problems.map((c) => [c.check, c.subject]), [['repository', 'acme/pulp'], ['registry-tags', 'acme/pulp']]);
  assert.match(problems[0]!.detail, /tag 1\.0 points to manifest sha256:[0-9a-f]{64}, which is not a revision of acme\/pulp/);
});

test('a directory store: a stock registry with the filesystem driver, configured from --env, serves what raas pushed', async (t) => {
  const world = await makeWorld(t, { storage: 'file', platform: 'none' });
  const published = await publishEachFormat(world);
  const env = await world.raas(['registry-config', 'acme', '--env']);
  assert.equal(env.code, 0, env.stderr);
  const variables = Object.fromEntries(env.stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const [name, ...value] = l.split('=');
    return [name!, value.join('=').replace(/^'(.*)'$/, '$1')];
  }));
  assert.equal(variables['REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY'], world.storageDir);
  delete variables['REGISTRY_HTTP_ADDR'];
  const registry = await startStockRegistry(t, 'version: 0.1\nhttp:\n  addr: 127.0.0.1:5000\n', variables);
  for (const p of published) await checkPulls(t, registry.host, p).catch((error: Error) => assert.fail(`${error.message}\nregistry log:\n${registry.log().slice(-3000)}`));

  // The backup record of each image, for status.
  const record = JSON.parse(await readFile(path.join(world.configDir, 'acme', 'metadata', 'acme-pulp@distribution.json'), 'utf8').catch(async () => {
    await git(world.configDir, 'pull', '-q');
    return readFile(path.join(world.configDir, 'acme', 'metadata', 'acme-pulp@distribution.json'), 'utf8');
  }));
  assert.deepEqual(record, { repository: 'acme/pulp', tags: { '1.0': published[2]!.digest } });
  // acme-pulp's record would be acme/pulp's file: refused before anything is written.
  const before = await world.snapshot();
  const twin = await world.raas(['push', 'acme', 'acme-pulp', '--file', published[2]!.example.file]);
  assert.equal(twin.code, 2, twin.stderr);
  assert.match(twin.stderr, /acme\/metadata\/acme-pulp@distribution\.json records 'acme\/pulp', not 'acme-pulp'/);
  assert.match(twin.stderr, /fix: push 'acme-pulp' under a name that does not turn into the same name/);
  assert.deepEqual(await world.snapshot(), before, 'the refused push changed storage or a repository');
  await setIsvKey(world, `registry_url = ${registry.url}`);
  const healthy = await status(world);
  assert.equal(healthy.code, 0, JSON.stringify(failed(healthy.report)));
  await rm(path.join(world.storageDir, 'docker', 'registry', 'v2', 'repositories', 'acme', 'docker', '_manifests', 'tags', '1.0', 'current'), { recursive: true });
  const untagged = await status(world);
  assert.equal(untagged.code, 1);
  assert.match(failed(untagged.report).find((c) => c.check === 'repository')!.detail, /tag 1\.0 was published \(sha256:[0-9a-f]{64}\) but has no .*current\/link/);
});

test('masked layers: skipped, they stay with their host as foreign layers skopeo fetches there; with masked_layers = upload, the registry serves them too', async (t) => {
  const example = await makeExample({ dir: await tempDir(t), format: 'oci-archive', layers: 2, tag: '1.0' });
  const [base] = example.ids as [string, string];
  const repo = await readArchive(example.file, { workDir: await tempDir(t) });
  const baseLayer = await buffer(repo.images[0]!.layer.open());
  const baseDigest = repo.images[0]!.layerDigest!;
  const party = await startBaseParty(t, { id: base, layer: baseLayer });
  for (const mode of ['skip', 'upload'] as const) {
    const world = await makeWorld(t, { storage: 'file', platform: 'none', baseMetadata: { 'rhel7.json': party.metadata }, isvLines: [`masked_layers = ${mode}`] });
    const run = await world.raas(['push', 'acme', 'acme/app', '--file', example.file, '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).masked, [base]);
    const blob = path.join(world.storageDir, 'docker/registry/v2/blobs/sha256', baseDigest.slice(7, 9), baseDigest.slice(7), 'data');
    assert.equal(await readFile(blob).then(() => true, () => false), mode === 'upload', `${mode}: the masked layer's blob`);
    const config = await world.raas(['registry-config', 'acme']);
    const registry = await startStockRegistry(t, config.stdout);
    const manifest = JSON.parse(Buffer.from((await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/acme/app:1.0`)).stdout).toString());
    assert.deepEqual(manifest.layers[0].urls, mode === 'skip' ? [`${party.url}${base}/layer`] : undefined);
    const before = party.requests.length;
    const dir = await tempDir(t, 'raas-pulled-');
    await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/acme/app:1.0`, `dir:${dir}`);
    const layers = await Promise.all(manifest.layers.map((l: { digest: string }) => readFile(path.join(dir, l.digest.slice('sha256:'.length)))));
    assert.deepEqual(layers.map((l) => (l[0] === 0x1f ? gunzipSync(l) : l)), example.layers.map((l) => l.tar), `${mode}: layer bytes`);
    assert.deepEqual(party.requests.slice(before), mode === 'skip' ? [`/rhel7/${base}/layer`] : [], `${mode}: what was fetched from the base party`);
  }
});

test('setup of a layout = distribution ISV makes the storage and no Crane app, and checks the registry\'s /v2/ when registry_url is set', async (t) => {
  const world = await makeWorld(t, { storage: 'file', platform: 'none', empty: true, isvLines: ['registry_url = http://127.0.0.1:9/'] });
  const run = await world.raas(['setup', 'acme', '--create', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as { ok: boolean; steps: { step: string; status: string }[] };
  assert.deepEqual(report.steps.map((s) => [s.step.replace(/ .*/, ''), s.status]), [
    ['storage', 'done'], ['write', 'ok'], ['Crane', 'skipped'], ['registry', 'warning'],
    ['raas.cfg', 'present'], ['directories', 'done'], ['configuration', 'ok'],
  ]);
  assert.equal(await git(world.craneRemote, 'rev-parse', '-q', '--verify', 'HEAD').then(() => 'commits', () => 'none'), 'none', 'something was deployed to a Crane app');
});
