import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startServer, type RegistryServer } from '../../src/serve/server.ts';
import { dirSnapshot } from '../../src/serve/source.ts';
import { makeExample, type Example } from '../helpers/archives.ts';
import { git, makeBareRepo, tempDir } from '../helpers/git.ts';
import { editConfig, makeCraneSource } from '../helpers/registry.ts';
import { makeWorld } from '../helpers/world.ts';

interface Check { check: string; subject: string; outcome: 'ok' | 'warning' | 'failed'; detail: string }
interface FleetJson {
  ok: boolean;
  strict: boolean;
  isvs: { ok: number; warning: number; failed: number };
  summary: { ok: number; warning: number; failed: number };
  images: number;
  reports: { ok: boolean; isv: string; summary: { ok: number; warning: number; failed: number }; checks: Check[]; images: { image: string; pull: string }[] }[];
}

const ISVS = ['acme', 'beta', 'gamma'] as const;

test('status of every ISV: one healthy, one with a missing layer, one with an orphan; human, --terse, --json; one log per run', async (t) => {
  const source = await makeCraneSource(t);
  const world = await makeWorld(t, { storage: 's3', platform: 'git', empty: true, extraCfg: `[openshift]\napp_git_url = ${source}\n` });
  const s3 = world.s3!;
  const root = await tempDir(t, 'raas-fleet-');
  const remotes: Record<string, string> = { acme: world.craneRemote };
  for (const isv of ['beta', 'gamma']) remotes[isv] = await makeBareRepo(path.join(root, `${isv}.git`));

  // One Crane-compatible server for the three registries, serving every app's deployed data.
  let server: RegistryServer = await startServer({ source: await dirSnapshot(path.join(root, 'nothing')) });
  const registryUrl = server.url;
  t.after(() => server.close());
  let round = 0;
  const serveDeployed = async () => {
    const served = path.join(root, `served-${(round += 1)}`);
    for (const isv of ISVS) await git(root, 'clone', '-q', remotes[isv]!, path.join(served, isv));
    await server.close();
    server = await startServer({ source: await dirSnapshot(served), port: Number(new URL(registryUrl).port) });
  };
  await editConfig(world, (text) => [
    text.replace(/^registry_url = .*$/m, `registry_url = ${registryUrl}`),
    ...['beta', 'gamma'].map((isv) => `[${isv}]\nstorage = s3\ns3_bucket = ${isv}-registry\nplatform = git\napp_remote = ${remotes[isv]}\nregistry_url = ${registryUrl}\n`),
  ].join('\n'));
  const examples: Record<string, Example> = {};
  for (const isv of ISVS) {
    const setup = await world.raas(['setup', isv, '--create']);
    assert.equal(setup.code, 0, setup.stderr);
    examples[isv] = await makeExample({ dir: world.root, format: 'pulp', layers: 2, tag: '1.0', name: `${isv}/app` });
    const push = await world.raas(['push', isv, `${isv}/app`, '--file', examples[isv]!.file]);
    assert.equal(push.code, 0, push.stderr);
  }
  await git(world.configDir, 'pull', '-q');
  await serveDeployed();

  const healthy = await world.raas(['status', '--json', '--no-commit']);
  assert.equal(healthy.code, 0, healthy.stdout);
  const all = JSON.parse(healthy.stdout) as FleetJson;
  assert.deepEqual([all.ok, all.isvs, all.images, all.reports.map((r) => [r.isv, r.ok, r.summary.warning, r.summary.failed])],
    [true, { ok: 3, warning: 0, failed: 0 }, 3, [['acme', true, 0, 0], ['beta', true, 0, 0], ['gamma', true, 0, 0]]]);

  // beta loses a layer, gamma gains an orphan.
  const missing = `beta-app/${examples.beta!.ids[1]}/layer`;
  await s3.client.send(new DeleteObjectCommand({ Bucket: 'beta-registry', Key: missing }));
  const orphan = `gamma-app/${randomBytes(32).toString('hex')}/layer`;
  await s3.client.send(new PutObjectCommand({ Bucket: 'gamma-registry', Key: orphan, Body: 'left over' }));

  const commits = async () => Number((await git(world.configRemote, 'rev-list', '--count', 'HEAD')).trim());
  const before = await commits();
  const human = await world.raas(['status']);
  assert.equal(human.code, 1, 'an ISV failed');
  const lines = human.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 4, human.stdout);
  assert.match(lines[0]!, /^ {2}acme {3}1 image {5}ok$/);
  assert.match(lines[1]!, new RegExp(`^ {2}beta {3}1 image {5}FAILED \\(2 failed, 0 warnings\\) {2}objects beta/app: 1 of 6 objects are missing from s3://beta-registry/: ${missing}`));
  assert.match(lines[2]!, /^ {2}gamma {2}1 image {5}1 warning {2}orphans gamma\/app: 1 image prefixes/);
  assert.equal(lines[3], 'Total: 3 ISVs, 3 images: 1 failed, 1 with warnings, 1 ok');
  assert.doesNotMatch(human.stderr, /orphans gamma|objects beta/, 'the checks are on stdout, not repeated on stderr');
  assert.match(human.stderr, /status of gamma: 0 failed, 1 warning, \d+ ok/);

  assert.equal(await commits(), before + 1, 'one commit for the run, not one per ISV');
  const changed = (await git(world.configRemote, 'show', '--name-only', '--format=%s', 'HEAD')).trim().split('\n');
  assert.deepEqual(changed, ['_fleet: raas status --all', '', `_fleet/logs/${new Date().toISOString().slice(0, 10)}.log`]);
  const logged = (await git(world.configRemote, 'show', `HEAD:${changed[2]}`)).trim().split('\n').map((l) => JSON.parse(l) as { isv?: string; msg: string });
  assert.deepEqual([...new Set(logged.map((l) => l.isv).filter(Boolean))].sort(), ['acme', 'beta', 'gamma'], 'the log names the ISV of each line');
  assert.ok(logged.some((l) => l.isv === 'beta' && l.msg.includes(missing)), 'every check is in the log');

  const host = new URL(registryUrl).host;
  const terse = await world.raas(['status', '--terse', '--no-commit']);
  assert.equal(terse.code, 1);
  assert.equal(terse.stdout, ISVS.map((isv) => `${host}/${isv}/app\n`).join(''));

  const json = await world.raas(['status', '--all', '--json', '--no-commit', '--jobs', '2']);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as FleetJson;
  assert.deepEqual([report.ok, report.strict, report.isvs, report.images], [false, false, { ok: 1, warning: 1, failed: 1 }, 3]);
  const problems = (isv: string) => report.reports.find((r) => r.isv === isv)!.checks.filter((c) => c.outcome !== 'ok').map((c) => `${c.outcome} ${c.check} ${c.subject}`);
  assert.deepEqual(ISVS.map(problems), [[], ['failed objects beta/app', 'failed tags beta/app'], ['warning orphans gamma/app']]);
  assert.deepEqual(report.summary.failed + report.summary.warning, 3);

  // beta mended (a push again uploads what is missing): only gamma's warning is left, 0, and 1 with --strict.
  const beta = await world.raas(['push', 'beta', 'beta/app', '--file', examples.beta!.file, '--no-commit']);
  assert.equal(beta.code, 0, beta.stderr);
  const warned = await world.raas(['status', '--no-commit']);
  assert.equal(warned.code, 0, warned.stdout);
  assert.match(warned.stdout, /Total: 3 ISVs, 3 images: 0 failed, 1 with warnings, 2 ok\n$/);
  const strict = await world.raas(['status', '--strict', '--no-commit']);
  assert.equal(strict.code, 1);
  assert.match(strict.stdout, /0 failed, 1 with warnings, 2 ok\nWarnings fail with --strict\.\n$/);

  for (const args of [['status', '--all', 'acme'], ['status', '-j', '0']]) {
    const usage = await world.raas([...args, '--no-commit']);
    assert.equal(usage.code, 2, `${args.join(' ')}: ${usage.stderr}`);
  }
});
