import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { makeExample } from '../helpers/archives.ts';
import { commitToRemote, git, tempDir } from '../helpers/git.ts';
import { multiPlatformOciArchive } from '../helpers/modern-images.ts';
import { editConfig, makeCraneSource, serveDirectory, startRegistry, type Registry } from '../helpers/registry.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * raas status on the Docker v2 side of published images: the @v2.json redirect file, the
 * v2 layout in storage (manifests, the blobs they reference, orphans), its backup, and
 * every tag resolved through the registry's /v2/ by the Crane-compatible server.
 */

interface Check { check: string; subject: string; outcome: 'ok' | 'warning' | 'failed'; detail: string }
interface Report { ok: boolean; summary: { ok: number; warning: number; failed: number }; checks: Check[] }

const statusOf = async (world: World, args: readonly string[] = []) => {
  const run = await world.raas(['status', 'acme', ...args, '--no-commit', '--json']);
  return { code: run.code, stderr: run.stderr, report: JSON.parse(run.stdout) as Report };
};
const sha256Digest = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const problems = (report: Report) => report.checks.filter((c) => c.outcome !== 'ok');
const summary = (checks: readonly Check[]) => checks.map((c) => [c.check, c.subject, c.outcome]);
const find = (report: Report, name: string, subject: string) => report.checks.find((c) => c.check === name && c.subject === subject);

interface Manifest { config: { digest: string; size: number }; layers: { digest: string; size: number; urls?: string[] }[] }

/** A git-platform registry with the Crane-compatible server in front, set up and ready for pushes. */
async function registryWorld(
  t: Parameters<typeof makeWorld>[0], storage: 's3' | 'file', baseMetadata?: Record<string, string>, mask?: string[],
): Promise<{ world: World; registry: Registry }> {
  const source = await makeCraneSource(t);
  const world = await makeWorld(t, { storage, platform: 'git', empty: true, baseMetadata, mask, extraCfg: `[openshift]\napp_git_url = ${source}\n` });
  const registry = await startRegistry(t, world);
  await editConfig(world, (text) => text.replace(/^registry_url = .*$/m, `registry_url = ${registry.url}`));
  const setup = await world.raas(['setup', 'acme', '--create']);
  assert.equal(setup.code, 0, setup.stderr);
  return { world, registry };
}

async function push(world: World, image: string, file: string): Promise<{ v2: { manifests: Record<string, string> } }> {
  const run = await world.raas(['push', 'acme', image, '--file', file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test('status checks the v2 side on S3: healthy with a foreign layer, a v2 orphan, a missing blob and manifest, corrupt @v2.json files', async (t) => {
  const based = await makeExample({ dir: await tempDir(t), format: 'oci-archive', layers: 2, tag: 'latest', name: 'acme/based' });
  const [base] = based.ids as [string, string];
  // The base layer is another party's (a Red Hat image): v2 manifests name it as a foreign layer, hosted there.
  const rhel = JSON.stringify({
    type: 'pulp-docker-redirect', version: 1, repository: 'rhel7', 'repo-registry-id': 'rhel7', url: 'https://cdn.redhat.example/rhel7/',
    protected: false, images: [{ id: base }], tags: { latest: base },
  });
  // A layer only the mask list names has no known host: its tag gets no v2 manifest.
  const unhosted = await makeExample({ dir: await tempDir(t), format: 'pulp', layers: 2, tag: 'old', name: 'acme/unhosted' });
  const { world, registry } = await registryWorld(t, 's3', { 'rhel7.json': rhel }, [unhosted.ids[0]!]);
  const app = await makeExample({ dir: world.root, format: 'pulp', layers: 2, tag: '1.0', name: 'acme/app' });
  const pushed = await push(world, 'acme/app', app.file);
  await push(world, 'acme/based', based.file);
  await git(world.configDir, 'pull', '-q');
  await registry.serveDeployed();
  const s3 = world.s3!.client;
  const Bucket = world.bucket;
  const manifest = JSON.parse((await world.object('acme-app/v2/manifests/2/1.0')).toString()) as Manifest;
  const basedManifest = JSON.parse((await world.object('acme-based/v2/manifests/2/latest')).toString()) as Manifest;
  assert.deepEqual(basedManifest.layers.map((l) => l.urls !== undefined), [true, false], 'the base layer is foreign');

  // Healthy: every v2 check ok for both images, and status changes nothing.
  const before = await world.snapshot();
  const healthy = await statusOf(world);
  assert.equal(healthy.code, 0, healthy.stderr);
  assert.deepEqual(problems(healthy.report), []);
  for (const name of ['v2-objects', 'v2-tags']) {
    assert.deepEqual(healthy.report.checks.filter((c) => c.check === name).map((c) => [c.subject, c.outcome]), [['acme/app', 'ok'], ['acme/based', 'ok']], name);
  }
  assert.equal(find(healthy.report, 'v2-objects', 'acme/app')!.detail, `1 manifest for 1 tag and 3 blobs in s3://${Bucket}/acme-app/v2/`);
  assert.equal(find(healthy.report, 'v2-objects', 'acme/based')!.detail, `1 manifest for 1 tag and 2 blobs in s3://${Bucket}/acme-based/v2/; 1 foreign layer hosted elsewhere`);
  assert.match(find(healthy.report, 'v2-tags', 'acme/app')!.detail, /1 tag resolves through the registry's \/v2\/ to manifests and configs that exist/);
  assert.match(find(healthy.report, 'lint', 'crane/data/acme-acme-app@v2.json')!.detail, /^valid$/);
  assert.match(find(healthy.report, 'backup', 'acme/app')!.detail, /the 2 backups equal the deployed files/);
  assert.equal(find(healthy.report, 'v2-orphans', 'acme/app'), undefined);
  assert.deepEqual(await world.snapshot(), before, 'status --no-commit changes nothing anywhere');

  // An object of the v2 layout that no manifest references: a warning, failing only with --strict.
  const orphan = `acme-app/v2/blobs/sha256:${randomBytes(32).toString('hex')}`;
  await s3.send(new PutObjectCommand({ Bucket, Key: orphan, Body: 'left over' }));
  const warned = await statusOf(world);
  assert.equal(warned.code, 0, 'warnings alone pass');
  assert.deepEqual(summary(problems(warned.report)), [['v2-orphans', 'acme/app', 'warning']]);
  assert.equal(problems(warned.report)[0]!.detail, `1 object of the v2 layout that no published manifest references (an unfinished push, or tags no longer published): ${orphan}`);
  const strict = await world.raas(['status', 'acme', '--strict', '--no-commit']);
  assert.equal(strict.code, 1, 'with --strict a warning fails');
  assert.match(strict.stdout, /warning +v2-orphans acme\/app: 1 object of the v2 layout/);
  await s3.send(new DeleteObjectCommand({ Bucket, Key: orphan }));

  // A layer blob gone: the v2 objects fail, naming the key; the v1 side is untouched.
  const layerKey = `acme-app/v2/blobs/${manifest.layers[1]!.digest}`;
  const layer = await world.object(layerKey);
  await s3.send(new DeleteObjectCommand({ Bucket, Key: layerKey }));
  const noBlob = await statusOf(world);
  assert.equal(noBlob.code, 1);
  assert.deepEqual(summary(problems(noBlob.report)), [['v2-objects', 'acme/app', 'failed']]);
  assert.equal(problems(noBlob.report)[0]!.detail, `1 of 6 objects of the v2 layout are missing from s3://${Bucket}/: ${layerKey}`);
  await s3.send(new PutObjectCommand({ Bucket, Key: layerKey, Body: layer }));
  assert.equal((await statusOf(world)).code, 0, 'healthy again');

  // The tag's manifest gone: the objects fail and the tag no longer resolves through the registry.
  const tagKey = 'acme-app/v2/manifests/2/1.0';
  const tagManifest = await world.object(tagKey);
  await s3.send(new DeleteObjectCommand({ Bucket, Key: tagKey }));
  const noManifest = await statusOf(world, ['acme/app']);
  assert.equal(noManifest.code, 1);
  assert.deepEqual(summary(problems(noManifest.report)), [['v2-objects', 'acme/app', 'failed'], ['v2-tags', 'acme/app', 'failed']]);
  assert.match(find(noManifest.report, 'v2-objects', 'acme/app')!.detail, new RegExp(`are missing from s3://${Bucket}/: ${tagKey}$`));
  assert.match(find(noManifest.report, 'v2-tags', 'acme/app')!.detail, /^\/v2\/acme\/app\/manifests\/1\.0 redirects to http:.*\/acme-app\/v2\/manifests\/2\/1\.0, which does not exist$/);
  await s3.send(new PutObjectCommand({ Bucket, Key: tagKey, Body: tagManifest }));

  // A digest manifest holding other bytes than its digest says.
  const digestKey = `acme-app/v2/manifests/2/${pushed.v2.manifests['1.0']}`;
  assert.ok(tagManifest.length > 10);
  await s3.send(new PutObjectCommand({ Bucket, Key: digestKey, Body: Buffer.concat([tagManifest, Buffer.from(' ')]) }));
  const tampered = await statusOf(world, ['acme/app']);
  assert.equal(tampered.code, 1);
  assert.match(find(tampered.report, 'v2-objects', 'acme/app')!.detail, new RegExp(`manifest ${digestKey} is ${tagManifest.length + 1} bytes, not the ${tagManifest.length} of the same manifest at ${tagKey}`));
  await s3.send(new PutObjectCommand({ Bucket, Key: digestKey, Body: tagManifest }));
  assert.equal((await statusOf(world)).code, 0, 'healthy again');

  // A corrupt @v2.json in the app repository: lint names the file and the problem; v2 is not checked by it.
  await commitToRemote(world.craneRemote, { files: { 'crane/data/acme-acme-app@v2.json': '{"version": 3, "schema2_data": [' } });
  const corrupt = await statusOf(world, ['acme/app']);
  assert.equal(corrupt.code, 1);
  assert.deepEqual(summary(problems(corrupt.report)), [['lint', 'crane/data/acme-acme-app@v2.json', 'failed'], ['backup', 'acme/app', 'failed'], ['v2-objects', 'acme/app', 'failed']]);
  assert.match(find(corrupt.report, 'lint', 'crane/data/acme-acme-app@v2.json')!.detail, /^error: not valid JSON/);
  assert.match(find(corrupt.report, 'backup', 'acme/app')!.detail, /acme\/metadata\/acme-app@v2\.json differs from the deployed crane\/data\/acme-acme-app@v2\.json/);
  assert.equal(find(corrupt.report, 'v2-objects', 'acme/app')!.detail, 'not checked: crane/data/acme-acme-app@v2.json is not valid JSON (see lint)');
  const human = await world.raas(['status', 'acme', 'acme/app', '--no-commit']);
  assert.equal(human.code, 1);
  assert.match(human.stdout, /FAILED +lint crane\/data\/acme-acme-app@v2\.json: error: not valid JSON/);

  const backup = await readFile(path.join(world.configDir, 'acme/metadata/acme-app@v2.json'), 'utf8');
  const deployed = JSON.parse(backup);
  const bad = { ...deployed, 'repo-registry-id': 'acme/elsewhere', url: deployed.url.replace(/\/$/, ''), schema2_data: [...deployed.schema2_data, 'sha256:nothex'] };
  await commitToRemote(world.craneRemote, { files: { 'crane/data/acme-acme-app@v2.json': JSON.stringify(bad) } });
  const wrong = await statusOf(world, ['acme/app']);
  const lint = find(wrong.report, 'lint', 'crane/data/acme-acme-app@v2.json')!;
  assert.equal(lint.outcome, 'failed');
  assert.match(lint.detail, /error: url '[^']*acme-app\/v2' does not end in "\/"; warning: schema2_data lists 'sha256:nothex', neither a tag nor a sha256 digest/);
  assert.equal(find(wrong.report, 'v2-objects', 'acme/app')!.detail,
    "not checked: crane/data/acme-acme-app@v2.json names repo-registry-id 'acme/elsewhere', not 'acme/app': Docker v2 clients cannot pull acme/app");

  // Tags v1 clients can pull but v2 clients cannot: a warning, with no orphan for the tag list push wrote.
  await commitToRemote(world.craneRemote, { files: { 'crane/data/acme-acme-app@v2.json': backup } });
  await push(world, 'acme/unhosted', unhosted.file);
  await registry.serveDeployed();
  const v1Only = await statusOf(world, ['acme/unhosted']);
  assert.equal(v1Only.code, 0, v1Only.stderr);
  assert.deepEqual(summary(problems(v1Only.report)), [['v2-objects', 'acme/unhosted', 'warning']]);
  assert.match(problems(v1Only.report)[0]!.detail, /^Docker v2 clients cannot pull tag old: crane\/data\/acme-acme-unhosted@v2\.json does not list it \(a masked layer without a known host/);
});

test('status checks the v2 side on a storage directory behind a web server: a missing config fails the tag, a garbled manifest, a backup that differs', async (t) => {
  const { world, registry } = await registryWorld(t, 'file');
  const files = await serveDirectory(t, world.storageDir);
  await editConfig(world, (text) => text.replace('storage = file', `storage = file\npublic_url = ${files}`));
  const app = await makeExample({ dir: world.root, format: 'pulp', layers: 3, tag: '2.0', name: 'acme/app' });
  await push(world, 'acme/app', app.file);
  await git(world.configDir, 'pull', '-q');
  await registry.serveDeployed();
  const v2Dir = path.join(world.storageDir, 'acme-app/v2');
  const manifest = JSON.parse(await readFile(path.join(v2Dir, 'manifests/2/2.0'), 'utf8')) as Manifest;

  const healthy = await statusOf(world);
  assert.equal(healthy.code, 0, healthy.stderr);
  assert.deepEqual(problems(healthy.report), []);
  assert.equal(find(healthy.report, 'v2-objects', 'acme/app')!.detail, `1 manifest for 1 tag and 4 blobs in file://${world.storageDir}/acme-app/v2/`);
  assert.equal(find(healthy.report, 'v2-tags', 'acme/app')!.outcome, 'ok');

  // The image config gone: missing from storage, and the registry's blob redirect leads nowhere.
  const configKey = `acme-app/v2/blobs/${manifest.config.digest}`;
  const config = await readFile(path.join(world.storageDir, configKey));
  await rm(path.join(world.storageDir, configKey));
  const noConfig = await statusOf(world);
  assert.equal(noConfig.code, 1);
  assert.deepEqual(summary(problems(noConfig.report)), [['v2-objects', 'acme/app', 'failed'], ['v2-tags', 'acme/app', 'failed']]);
  assert.match(find(noConfig.report, 'v2-objects', 'acme/app')!.detail, new RegExp(`1 of 7 objects of the v2 layout are missing from file://.*: ${configKey}$`));
  assert.match(find(noConfig.report, 'v2-tags', 'acme/app')!.detail, new RegExp(`^/v2/acme/app/blobs/${manifest.config.digest} redirects to ${files}${configKey}, which does not exist$`));
  await writeFile(path.join(world.storageDir, configKey), config);

  // A manifest that is not one: failed, and orphans are not guessed from what could not be read.
  const tagFile = path.join(v2Dir, 'manifests/2/2.0');
  const tagManifest = await readFile(tagFile);
  await writeFile(tagFile, '{"schemaVersion": 1}');
  await writeFile(path.join(v2Dir, 'blobs', `sha256:${'0'.repeat(64)}`), 'left over');
  const garbled = await statusOf(world);
  assert.equal(garbled.code, 1);
  assert.deepEqual(summary(problems(garbled.report)), [['v2-objects', 'acme/app', 'failed']]);
  assert.match(problems(garbled.report)[0]!.detail, /manifest acme-app\/v2\/manifests\/2\/2\.0 is not an image manifest \(Docker schema 2 or OCI\)/);
  await writeFile(tagFile, tagManifest);
  const orphaned = await statusOf(world);
  assert.deepEqual(summary(problems(orphaned.report)), [['v2-orphans', 'acme/app', 'warning']], 'once the manifest reads, the orphan is told');
  await rm(path.join(v2Dir, 'blobs', `sha256:${'0'.repeat(64)}`));

  // The configuration repository's backup of @v2.json differs from the deployed file.
  await writeFile(path.join(world.configDir, 'acme/metadata/acme-app@v2.json'), '{}\n');
  const differs = await statusOf(world);
  assert.equal(differs.code, 1);
  assert.deepEqual(summary(problems(differs.report)), [['backup', 'acme/app', 'failed']]);
  assert.match(problems(differs.report)[0]!.detail, /acme\/metadata\/acme-app@v2\.json differs from the deployed crane\/data\/acme-acme-app@v2\.json/);
});

test('an OCI index whose manifests leave out their own mediaType (OCI allows it): each gets its copy at manifests/1/<digest>, and status finds the copies, no orphans', async (t) => {
  const { world, registry } = await registryWorld(t, 's3');
  const { file, image } = await multiPlatformOciArchive(await tempDir(t), { tag: '1.0', omitManifestMediaType: true });
  await push(world, 'acme/bare', file);
  await git(world.configDir, 'pull', '-q');
  await registry.serveDeployed();
  for (const platform of image.images) {
    const copy = await world.object(`acme-bare/v2/manifests/1/${platform.manifest}`);
    assert.equal(sha256Digest(copy), platform.manifest);
    assert.equal((JSON.parse(copy.toString()) as { mediaType?: string }).mediaType, undefined, 'the archive\'s bytes, without a mediaType');
  }
  const { code, report } = await statusOf(world, ['acme/bare']);
  assert.deepEqual(problems(report), []);
  assert.equal(code, 0);
  assert.match(find(report, 'v2-objects', 'acme/bare')!.detail, /^2 manifests for 1 tag/);
});
