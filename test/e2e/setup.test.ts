import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { filesAt, git } from '../helpers/git.ts';
import { CRANE_SOURCE_FILES, editConfig, makeCraneSource } from '../helpers/registry.ts';
import { makeWorld, type World } from '../helpers/world.ts';

const today = () => new Date().toISOString().slice(0, 10);
const RHEL = JSON.stringify({
  type: 'pulp-docker-redirect', version: 1, repository: 'rhel7', 'repo-registry-id': 'rhel7', url: 'https://cdn.redhat.example/rhel7/',
  protected: false, images: [{ id: 'b'.repeat(64) }], tags: { latest: 'b'.repeat(64) },
});

const bucketExists = (world: World) =>
  world.s3!.client.send(new HeadBucketCommand({ Bucket: world.bucket })).then(() => true, () => false);
const refs = (remote: string) => (existsSync(remote) ? git(remote, 'for-each-ref') : Promise.resolve('(no repository)'));
/** Paths that changed in the configuration remote between two commits. */
const changedPaths = async (world: World, from: string) =>
  (await git(world.configRemote, 'diff', '--name-only', from, 'HEAD')).split('\n').filter(Boolean);
const head = async (repo: string) => (await git(repo, 'rev-parse', 'HEAD')).trim();

test('git platform: setup without --create leaves everything alone; with it, from an empty bucket and remote; again, nothing changes', async (t) => {
  const source = await makeCraneSource(t);
  const world = await makeWorld(t, { storage: 's3', platform: 'git', empty: true, baseMetadata: { 'rhel7.json': RHEL }, extraCfg: `[openshift]\napp_git_url = ${source}\n` });
  await editConfig(world, (text) => text.replace(/^registry_url = .*$/m, `registry_url = ${world.registryUrl}`));
  const configHead = await head(world.configRemote);

  const refused = await world.raas(['setup', 'acme']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /bucket acme-registry does not exist; nothing was created/);
  assert.match(refused.stderr, /fix: run raas setup acme --create/);
  assert.equal(await bucketExists(world), false);
  assert.equal(await refs(world.craneRemote), '', 'the app remote is still empty');
  assert.equal(await head(world.configRemote), configHead);
  assert.equal(await git(world.configDir, 'status', '--porcelain', '--untracked-files=all'), '');

  const first = await world.raas(['setup', 'acme', '--create', '--json']);
  assert.equal(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout);
  assert.deepEqual([report.ok, report.changed, report.isv, report.registry], [true, true, 'acme', world.registryUrl]);
  const status = Object.fromEntries(report.steps.map((s: { step: string; status: string }) => [s.step, s.status]));
  assert.deepEqual(status, {
    'bucket acme-registry': 'done',
    'client read access': 'ok',
    [`app repository ${world.craneRemote}`]: 'present',
    'Crane code': 'done',
    'Crane configuration crane.conf': 'done',
    'base-image metadata': 'done',
    [`registry ${world.registryUrl}`]: 'ok',
    'raas.cfg [acme]': 'present',
    'directories acme/metadata, acme/logs': 'done',
    'configuration repository': 'ok',
  });
  assert.equal(await bucketExists(world), true);
  assert.deepEqual([...(await world.objects()).keys()], [], 'the probe object is gone');
  const app = await filesAt(world.craneRemote);
  for (const [name, text] of Object.entries(CRANE_SOURCE_FILES)) assert.equal(app.get(name), text, `${name} comes from the Crane source`);
  assert.match(app.get('crane.conf')!, /^\[general\]\ndebug: false\ndata_dir: crane\/data\n/m);
  assert.equal(app.get('crane/data/rhel7.json'), RHEL);
  assert.deepEqual((await changedPaths(world, configHead)).sort(), ['acme/logs/' + today() + '.log', 'acme/metadata/.gitkeep']);
  assert.equal((await git(world.configRemote, 'log', '-1', '--format=%s')).trim(), 'acme: raas setup');

  const craneRefs = await refs(world.craneRemote);
  const afterFirst = await head(world.configRemote);
  const again = await world.raas(['setup', 'acme', '--create']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Nothing to change: acme's registry at .* was already set up\./);
  assert.doesNotMatch(again.stdout, /\bdone\b/);
  assert.equal(await refs(world.craneRemote), craneRefs, 'the app repository is untouched');
  assert.deepEqual([...(await world.objects()).keys()], []);
  assert.deepEqual(await changedPaths(world, afterFirst), [`acme/logs/${today()}.log`], 'only the day\'s log grows');

  const disagree = await world.raas(['setup', 'acme', '--s3bucket', 'other-bucket', '--oodomain', 'acme']);
  assert.equal(disagree.code, 2);
  assert.match(disagree.stderr, /raas.cfg \[acme\] says otherwise:\n {2}--s3bucket other-bucket: the section has s3_bucket = acme-registry\n {2}--oodomain acme: the section has platform = git/);
  assert.equal(await refs(world.craneRemote), craneRefs);
});

test('openshift platform: setup makes the section from the options, the domain and the app through rhc; again, nothing changes', async (t) => {
  const source = await makeCraneSource(t);
  const world = await makeWorld(t, { storage: 's3', platform: 'openshift', empty: true, extraCfg: `[openshift]\napp_git_url = ${source}\n` });
  await editConfig(world, (text) => text.replace(/^\[acme\]\n(?:.+\n)*/m, ''));
  const rhc = world.rhc!;
  const configHead = await head(world.configRemote);
  const options = ['--s3bucket', 'acme-registry', '--oonoscale', '--oogearsize', 'medium'];

  const refused = await world.raas(['setup', 'acme', ...options]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /bucket acme-registry and OpenShift domain acme do not exist; nothing was created/);
  assert.deepEqual((await rhc.invocations()).map((argv) => argv.slice(0, 2).join(' ')), ['domain show']);
  assert.equal(await bucketExists(world), false);
  assert.equal(await head(world.configRemote), configHead);
  assert.equal(await git(world.configDir, 'status', '--porcelain'), '');

  const first = await world.raas(['setup', 'acme', '--create', ...options]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /done +domain acme/);
  assert.match(first.stdout, /done +app registry/);
  assert.match(first.stdout, /Set up acme's registry at /);
  const calls = (await rhc.invocations()).map((argv) => argv.join(' '));
  const env = '--env OPENSHIFT_PYTHON_WSGI_APPLICATION=crane/wsgi.py --env OPENSHIFT_PYTHON_DOCUMENT_ROOT=crane/ --env HAPROXY_CARTRIDGE_HTTPCHK_URI=/v1/_ping --env CRANE_CONFIG_PATH=app-root/repo/crane.conf';
  assert.ok(calls.includes('domain create acme'), calls.join('\n'));
  assert.ok(calls.includes(`app create registry python-2.7 -n acme --from-code ${source} --gear-size medium ${env} --no-git`), calls.join('\n'));
  const made = await rhc.app('acme', 'registry');
  assert.deepEqual([made.scaling, made.gearSize, made.env.CRANE_CONFIG_PATH], [false, 'medium', 'app-root/repo/crane.conf']);
  const app = await filesAt(world.craneRemote);
  assert.match(app.get('crane.conf')!, /^data_dir: app-root\/repo\/crane\/data$/m);
  assert.equal(app.get('crane/wsgi.py'), CRANE_SOURCE_FILES['crane/wsgi.py']);
  const cfg = await git(world.configRemote, 'show', 'HEAD:raas.cfg');
  assert.match(cfg, /\[acme\]\nstorage = s3\ns3_bucket = acme-registry\nplatform = openshift\nopenshift_domain = acme\nopenshift_app = registry\nopenshift_scale = false\nopenshift_gear_size = medium\n/);
  assert.deepEqual((await changedPaths(world, configHead)).sort(), [`acme/logs/${today()}.log`, 'acme/metadata/.gitkeep', 'raas.cfg']);

  const before = (await rhc.invocations()).length;
  const craneRefs = await refs(world.craneRemote);
  await git(world.configDir, 'pull', '-q');
  const again = await world.raas(['setup', 'acme', '--create', '--no-commit']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Nothing to change/);
  assert.deepEqual((await rhc.invocations()).slice(before).map((argv) => argv.slice(0, 2).join(' ')), ['domain show', 'app show', 'domain show', 'app show'], 'only looks');
  assert.equal(await refs(world.craneRemote), craneRefs);

  const disagree = await world.raas(['setup', 'acme', '--ooapp', 'other']);
  assert.equal(disagree.code, 2);
  assert.match(disagree.stderr, /--ooapp other: the section has openshift_app = registry/);
});

test('an app made before raas setup gets crane.conf, its environment and a restart; a missing storage directory needs --create', async (t) => {
  const source = await makeCraneSource(t);
  const world = await makeWorld(t, { storage: 'file', platform: 'openshift', extraCfg: `[openshift]\napp_git_url = ${source}\n` });
  const run = await world.raas(['setup', 'acme', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const steps = JSON.parse(run.stdout).steps as { step: string; status: string; detail?: string }[];
  assert.deepEqual(steps.find((s) => s.step === 'app environment')?.status, 'done');
  const access = steps.find((s) => s.step === 'client read access')!;
  assert.equal(access.status, 'warning', 'a file:// URL is readable only here');
  const calls = (await world.rhc!.invocations()).map((argv) => argv.slice(0, 3).join(' '));
  assert.ok(calls.includes('env set OPENSHIFT_PYTHON_WSGI_APPLICATION=crane/wsgi.py') && calls.includes('app restart -a'), calls.join('\n'));
  const app = await world.rhc!.app('acme', 'registry');
  assert.equal(app.env.CRANE_CONFIG_PATH, 'app-root/repo/crane.conf');
  assert.equal(app.restarts, 1);

  const fresh = await makeWorld(t, { storage: 'file', platform: 'git', empty: true, extraCfg: `[openshift]\napp_git_url = ${source}\n` });
  await editConfig(fresh, (text) => text.replace(/^registry_url = .*$/m, `registry_url = ${fresh.registryUrl}`));
  const refused = await fresh.raas(['setup', 'acme']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`storage directory ${fresh.storageDir} does not exist`));
  assert.equal(existsSync(fresh.storageDir), false);
  const made = await fresh.raas(['setup', 'acme', '--create']);
  assert.equal(made.code, 0, made.stderr);
  assert.ok(existsSync(fresh.storageDir));
  assert.match(made.stdout, new RegExp(`done +storage directory ${fresh.storageDir}: created`));
  assert.equal(existsSync(path.join(fresh.configDir, 'acme/metadata/.gitkeep')), true);
});
