import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { makeExample } from '../helpers/archives.ts';
import { commitToRemote, git } from '../helpers/git.ts';
import { editConfig, makeCraneSource, serveDirectory, startRegistry } from '../helpers/registry.ts';
import { makeWorld, type World } from '../helpers/world.ts';

interface Report {
  ok: boolean;
  isv: string;
  image: string | null;
  strict: boolean;
  registry: string | null;
  summary: { ok: number; warning: number; failed: number };
  checks: { check: string; subject: string; outcome: 'ok' | 'warning' | 'failed'; detail: string }[];
  images: { image: string; tags: string[]; pull: string; metadata: string }[];
}

const statusOf = async (world: World, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}) => {
  const run = await world.raas(['status', 'acme', ...args, '--json'], { env });
  return { code: run.code, stderr: run.stderr, report: JSON.parse(run.stdout) as Report };
};
const problems = (report: Report) => report.checks.filter((c) => c.outcome !== 'ok');
const publish = async (world: World, image: string, tag: string, env: NodeJS.ProcessEnv = {}) => {
  const example = await makeExample({ dir: world.root, format: 'pulp', layers: 2, tag, name: image });
  const run = await world.raas(['push', 'acme', image, '--file', example.file], { env });
  assert.equal(run.code, 0, run.stderr);
  return example;
};

test('status on a git-platform registry on S3: healthy, then an orphan, a missing layer, a corrupt metadata file, the registry down', async (t) => {
  const source = await makeCraneSource(t);
  const world = await makeWorld(t, { storage: 's3', platform: 'git', empty: true, extraCfg: `[openshift]\napp_git_url = ${source}\n` });
  const registry = await startRegistry(t, world);
  await editConfig(world, (text) => text.replace(/^registry_url = .*$/m, `registry_url = ${registry.url}`));
  const setup = await world.raas(['setup', 'acme', '--create']);
  assert.equal(setup.code, 0, setup.stderr);
  const app = await publish(world, 'acme/app', '1.0');
  const other = await publish(world, 'acme/other', 'latest');
  await git(world.configDir, 'pull', '-q');
  await registry.serveDeployed();

  const before = await world.snapshot();
  const healthy = await statusOf(world, ['--no-commit']);
  assert.equal(healthy.code, 0, healthy.stderr);
  assert.deepEqual(problems(healthy.report), []);
  const { report } = healthy;
  assert.deepEqual([report.ok, report.isv, report.image, report.strict, report.registry], [true, 'acme', null, false, registry.url]);
  assert.deepEqual(report.summary, { ok: report.checks.length, warning: 0, failed: 0 });
  const host = new URL(registry.url).host;
  assert.deepEqual(report.images, [
    { image: 'acme/app', tags: ['1.0'], pull: `${host}/acme/app`, metadata: 'crane/data/acme-acme-app.json' },
    { image: 'acme/other', tags: ['latest'], pull: `${host}/acme/other`, metadata: 'crane/data/acme-acme-other.json' },
  ]);
  const kinds = (name: string) => report.checks.filter((c) => c.check === name).map((c) => c.subject);
  assert.deepEqual(kinds('storage'), [`s3://${world.bucket}/`]);
  assert.deepEqual(kinds('registry'), [registry.url]);
  assert.deepEqual(kinds('crane-config'), ['crane.conf']);
  assert.deepEqual(kinds('lint'), ['crane/data/acme-acme-app.json', 'crane/data/acme-acme-app@v2.json', 'crane/data/acme-acme-other.json', 'crane/data/acme-acme-other@v2.json']);
  assert.match(report.checks.find((c) => c.check === 'backup')!.detail, /the 2 backups equal the deployed files/, 'v1 and v2 files are backed up');
  for (const name of ['objects', 'backup', 'tags']) assert.deepEqual(kinds(name), ['acme/app', 'acme/other'], name);
  assert.deepEqual(await world.snapshot(), before, 'status --no-commit changes nothing anywhere');

  const terse = await world.raas(['status', 'acme', '--terse']);
  assert.equal(terse.code, 0, terse.stderr);
  assert.equal(terse.stdout, `${host}/acme/app\n${host}/acme/other\n`);
  assert.equal((await git(world.configRemote, 'log', '-1', '--format=%s')).trim(), 'acme: raas status');
  const after = await world.snapshot();
  assert.deepEqual([after.objects, after.craneRefs], [before.objects, before.craneRefs], 'status never changes the bucket or the app');

  const orphan = `acme-app/${randomBytes(32).toString('hex')}/layer`;
  await world.s3!.client.send(new PutObjectCommand({ Bucket: world.bucket, Key: orphan, Body: 'left over' }));
  const warned = await statusOf(world, ['--no-commit']);
  assert.equal(warned.code, 0, 'warnings alone pass');
  assert.deepEqual(problems(warned.report).map((c) => [c.check, c.subject, c.outcome]), [['orphans', 'acme/app', 'warning']]);
  assert.match(problems(warned.report)[0]!.detail, new RegExp(orphan.replace(/layer$/, '')));
  const strict = await world.raas(['status', 'acme', '--strict', '--no-commit']);
  assert.equal(strict.code, 1, 'with --strict a warning fails');
  assert.match(strict.stdout, /warning +orphans acme\/app: 1 image prefixes/);

  const missing = `acme-other/${other.ids[1]}/layer`;
  await world.s3!.client.send(new DeleteObjectCommand({ Bucket: world.bucket, Key: missing }));
  const broken = await statusOf(world, ['--no-commit']);
  assert.equal(broken.code, 1);
  const failed = broken.report.checks.filter((c) => c.outcome === 'failed');
  assert.deepEqual(failed.map((c) => [c.check, c.subject]), [['objects', 'acme/other'], ['tags', 'acme/other']]);
  assert.match(failed[0]!.detail, new RegExp(`1 of 6 objects are missing from s3://${world.bucket}/: ${missing}`));
  assert.match(failed[1]!.detail, new RegExp(`/v1/images/${other.ids[1]}/layer redirects to .*${missing}, which does not exist`));
  const one = await statusOf(world, ['acme/app', '--no-commit']);
  assert.equal(one.code, 0, 'the other image is not looked at');
  assert.deepEqual(one.report.images.map((i) => i.image), ['acme/app']);
  assert.deepEqual(app.ids.length, 2);

  await commitToRemote(world.craneRemote, { files: { 'crane/data/acme-broken.json': '{"version": 1, "images": [' } });
  const corrupt = await world.raas(['status', 'acme', 'acme/app', '--no-commit']);
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.stdout, /FAILED +lint crane\/data\/acme-broken\.json: error: not valid JSON/);

  await registry.stop();
  const down = await statusOf(world, ['acme/app', '--no-commit']);
  assert.equal(down.code, 1);
  const ping = down.report.checks.find((c) => c.check === 'registry')!;
  assert.deepEqual([ping.outcome, ping.subject], ['failed', registry.url]);
  assert.match(ping.detail, /\/v1\/_ping: ECONNREFUSED/);

  const unknown = await world.raas(['status', 'acme', 'Not/An/Image']);
  assert.equal(unknown.code, 2, 'a bad image name is a usage error');
});

test('status on OpenShift with file storage: domain and app through rhc show commands only; a missing app fails', async (t) => {
  const source = await makeCraneSource(t);
  const world = await makeWorld(t, { storage: 'file', platform: 'openshift', extraCfg: `[openshift]\napp_git_url = ${source}\n` });
  const files = await serveDirectory(t, world.storageDir);
  await editConfig(world, (text) => text.replace('platform = openshift', `platform = openshift\npublic_url = ${files}`));
  const registry = await startRegistry(t, world);
  const env = { RHC_STANDIN_APP_URL: registry.url };
  assert.equal((await world.raas(['setup', 'acme'], { env })).code, 0);
  await publish(world, 'acme/app', '2.0', env);
  await git(world.configDir, 'pull', '-q');
  await registry.serveDeployed();

  const rhc = world.rhc!;
  const seen = (await rhc.invocations()).length;
  const healthy = await statusOf(world, [], env);
  assert.equal(healthy.code, 0, JSON.stringify(problems(healthy.report), null, 2));
  const subjects = healthy.report.checks.filter((c) => ['domain', 'app'].includes(c.check)).map((c) => `${c.check} ${c.subject} ${c.outcome}`);
  assert.deepEqual(subjects, ['domain acme ok', 'app registry ok']);
  assert.ok(healthy.report.checks.some((c) => c.check === 'objects' && c.detail.includes(`file://${world.storageDir}/acme-app/`)), 'objects are listed in the directory');
  assert.deepEqual((await rhc.invocations()).slice(seen).map((argv) => argv.slice(0, 2).join(' ')), ['domain show', 'app show']);

  await editConfig(world, (text) => text.replace('platform = openshift', 'platform = openshift\nopenshift_app = gone'));
  const gone = await statusOf(world, ['--no-commit'], env);
  assert.equal(gone.code, 1);
  assert.deepEqual(problems(gone.report).map((c) => [c.check, c.subject, c.outcome]), [['app', 'gone', 'failed']]);
});
