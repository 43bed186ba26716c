import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { makeExample } from '../helpers/archives.ts';
import { git } from '../helpers/git.ts';
import { fileTree, treeChanges } from '../helpers/reliability.ts';
import { makeWorld, type RunResult, type World } from '../helpers/world.ts';

/**
 * Issue 12, classes 4 and 5: names and keys never collide, and no URL secret is printed.
 * `[aws] prefix` values that leave the bucket or break key rules, duplicate sections and
 * keys in raas.cfg, an image whose name flattens to the name of one already published
 * (decided from the deployed redirect file, and from storage when no file is deployed), a
 * base metadata file that would replace another image's redirect file; a download URL with
 * an Azure-SAS-style query and a password too short to be masked. Refusals exit 2 and
 * change nothing: storage (and the bucket list), the Crane app, the configuration
 * repository and every file of the world are compared before and after.
 */

async function buckets(world: World): Promise<string[]> {
  return ((await world.s3!.client.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!).sort();
}

async function assertRefused(world: World, expect: readonly RegExp[], run: () => Promise<RunResult>): Promise<RunResult> {
  const before = await world.snapshot();
  const tree = await fileTree(world.root);
  const bucketsBefore = world.s3 ? await buckets(world) : [];
  const result = await run();
  assert.equal(result.code, 2, `exit ${result.code}\n${result.stderr}`);
  for (const pattern of expect) assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /internal error|\n\s+at /);
  assert.equal(result.stdout, '');
  assert.deepEqual(await world.snapshot(), before, 'storage, the Crane app or the configuration repository changed');
  assert.deepEqual(treeChanges(tree, await fileTree(world.root)), [], 'files in the world changed');
  if (world.s3) assert.deepEqual(await buckets(world), bucketsBefore, 'a bucket was created');
  return result;
}

/** Runs `body` with raas.cfg edited (uncommitted, as an operator trying a change would), then puts it back. */
async function withConfig(world: World, edit: (text: string) => string, body: () => Promise<unknown>): Promise<void> {
  const cfg = path.join(world.configDir, 'raas.cfg');
  const original = await readFile(cfg, 'utf8');
  await writeFile(cfg, edit(original));
  try {
    await body();
  } finally {
    await writeFile(cfg, original);
  }
}

async function prefixesAndDuplicates(t: TestContext): Promise<void> {
  const world = await makeWorld(t, { storage: 's3' });
  const archive = (await makeExample({ dir: path.join(world.root, 'archives'), format: 'pulp', layers: 1, tag: '1.0' })).file;
  const first = await world.raas(['push', 'acme', 'acme/app', '--file', archive]);
  assert.equal(first.code, 0, first.stderr);
  for (const prefix of ['../other', 'team/../../other', '/abs', 'a//b', 'a\\b', 'x/./y', 'x/.hidden']) {
    await t.test(`[aws] prefix = ${prefix}`, () => withConfig(world, (text) => text.replace(/^prefix = .*$/m, `prefix = ${prefix}`), () =>
      assertRefused(world, [/raas\.cfg:\d+ \[aws\] prefix: '.*' is not valid: keys are relative/], () => world.raas(['push', 'acme', 'acme/app', '--file', archive, '--tag', 'p'])),
    ));
  }
  await t.test('a section given twice', () => withConfig(world, (text) => `${text}\n[aws]\nregion = eu-west-1\n`, () =>
    assertRefused(world, [/raas\.cfg:\d+: section \[aws\] is given again \(first at .*raas\.cfg:\d+\)/], () => world.raas(['push', 'acme', 'acme/app', '--file', archive, '--tag', 'p'])),
  ));
  await t.test('a key given twice (in another case)', () => withConfig(world, (text) => text.replace('[acme]\n', '[acme]\nS3_Bucket = elsewhere\n'), () =>
    assertRefused(world, [/raas\.cfg:\d+: key s3_bucket in \[acme\] is given again \(first at .*raas\.cfg:\d+\)/i], () => world.raas(['push', 'acme', 'acme/app', '--file', archive, '--tag', 'p'])),
  ));
}

async function flatNameTwins(t: TestContext): Promise<void> {
  const world = await makeWorld(t, { storage: 'file' });
  const archive = (await makeExample({ dir: path.join(world.root, 'archives'), format: 'pulp', layers: 1, tag: '1.0' })).file;
  const push = (image: string, extra: string[] = []) => world.raas(['push', 'acme', image, '--file', archive, ...extra]);
  const first = await push('acme/app');
  assert.equal(first.code, 0, first.stderr);

  await t.test('acme-app after acme/app: refused, naming acme/app (from the deployed redirect file)', async () => {
    await assertRefused(world, [/'acme-app' would be published through crane\/data\/acme-acme-app\.json, which publishes 'acme\/app'/], () => push('acme-app', ['--tag', '2.0']));
  });

  await t.test('acme-app when only storage holds acme/app (its redirect files were removed)', async () => {
    const work = path.join(world.root, 'attacker');
    await git(world.root, 'clone', '-q', world.craneRemote, work);
    await git(work, 'rm', '-q', 'crane/data/acme-acme-app.json', 'crane/data/acme-acme-app@v2.json');
    await git(work, 'commit', '-qm', 'unpublish acme/app');
    await git(work, 'push', '-q');
    await rm(work, { recursive: true, force: true });
    await assertRefused(world, [/'acme-app' would be stored under .*acme-app\/, which holds the images of 'acme\/app' \(its v2 tag list names it\)/], () => push('acme-app', ['--tag', '2.0']));
  });

  await t.test("a base metadata file named like another image's redirect file is not deployed over it", async () => {
    const other = await push('acme/b');
    assert.equal(other.code, 0, other.stderr);
    const base = { type: 'pulp-docker-redirect', version: 1, repository: 'rhel', 'repo-registry-id': 'rhel/base', url: 'https://cdn.example/rhel/', protected: false, images: [], tags: {} };
    await mkdir(path.join(world.configDir, 'redhat', 'metadata'), { recursive: true });
    await writeFile(path.join(world.configDir, 'redhat', 'metadata', 'acme-acme-b.json'), JSON.stringify(base));
    await git(world.configDir, 'add', '-A');
    await git(world.configDir, 'commit', '-qm', 'base metadata');
    await git(world.configDir, 'push', '-q');
    await assertRefused(world, [/crane\/data\/acme-acme-b\.json publishes 'acme\/b'; raas will not replace it with a file for 'rhel\/base'/], () => push('acme/app', ['--tag', '3.0']));
  });
}

/** Serves `file` at any path ending in .tar, whatever the query: a pre-signed (SAS) download. */
async function startSignedHttp(t: TestContext, file: string): Promise<string> {
  const server = http.createServer(async (req, res) => {
    if (!new URL(req.url ?? '/', 'http://x').pathname.endsWith('.tar')) return void res.writeHead(404).end();
    const body = await readFile(file);
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/x-tar' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function urlSecrets(t: TestContext): Promise<void> {
  const world = await makeWorld(t, { storage: 'file' });
  const archive = (await makeExample({ dir: path.join(world.root, 'archives'), format: 'pulp', layers: 1, tag: '1.0' })).file;
  const base = await startSignedHttp(t, archive);

  await t.test('every query value of a download URL is masked in stdout, stderr, --json and the committed log', async () => {
    const sig = `sig${randomBytes(12).toString('hex')}`;
    const skoid = `oid-${randomBytes(6).toString('hex')}`;
    const url = `${base}/exports/acme-app.tar?sv=2024-08-04&skoid=${skoid}&se=2031-01-01T00%3A00%3A00Z&sr=b&sp=r&sig=${encodeURIComponent(sig)}`;
    const run = await world.raas(['push', 'acme', 'acme/app', '--file', url, '--json', '-l', 'debug']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /\/exports\/acme-app\.tar\?sv=\*\*\*&skoid=\*\*\*&se=\*\*\*&sr=\*\*\*&sp=\*\*\*&sig=\*\*\*/);
    const places: [string, string][] = [
      ['stdout (--json)', run.stdout],
      ['stderr', run.stderr],
      ['configuration repository history', await git(world.configRemote, 'log', '-p', '--all')],
      ['Crane app history', await git(world.craneRemote, 'log', '-p', '--all')],
    ];
    for (const [where, text] of places) {
      for (const value of [sig, skoid, '2031-01-01T00%3A00%3A00Z']) assert.ok(!text.includes(value), `${value} in ${where}`);
    }
    assert.match(places[2]![1], /sig=\*\*\*/, 'the committed log names the parameters');
  });

  await t.test('a password too short to be masked is refused, and not printed', () => withConfig(world, (text) => `${text}\n[openshift]\npassword = q7!\n`, async () => {
    const run = await assertRefused(world, [/\[openshift\] password: the value is shorter than 4 characters/, /fix: use a longer password, or auth_token instead/], () => world.raas(['push', 'acme', 'acme/app', '--file', archive, '--tag', 'p']));
    assert.ok(!run.stderr.includes('q7!'));
  }));
}

test('names and keys never collide, and no URL secret is printed', { concurrency: 3 }, async (t) => {
  await Promise.all([
    t.test('[aws] prefix and raas.cfg duplicates', prefixesAndDuplicates),
    t.test('images whose names flatten to the same name', flatNameTwins),
    t.test('secrets in URLs and short passwords', urlSecrets),
  ]);
});
