import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { execa } from 'execa';
import { makeExample } from '../helpers/archives.ts';
import { git } from '../helpers/git.ts';
import { fileTree, startRaas, treeChanges } from '../helpers/reliability.ts';
import { makeWorld, type RunResult, type World } from '../helpers/world.ts';

/**
 * Issue 12, classes 1, 6 (the repository side) and 7: what the Crane app repository and the
 * configuration repository hold is anyone's who can push there. Links committed at every
 * level (crane/data, a redirect file, <isv>/metadata, <isv>/logs, a day's log, raas.cfg,
 * the base metadata directory), paths of the wrong kind, an oversized file in the data
 * directory, a credentials file among the base metadata, previous redirect files of
 * unexpected shapes, a hook that says "fetch first", and a directory or FIFO where the
 * archive is looked for. Every case must fail with its exit code and a message naming the
 * path, print no stack, and leave storage, the Crane app and the configuration repository
 * as they were (world.snapshot()) and every file of the world, the sentinel files outside
 * the clones included, byte for byte the same.
 */

const ID = 'a'.repeat(64);

/**
 * A working copy of `remote` kept for the whole test, as an attacker with push access has:
 * `edit` catches up with the remote, applies the change (links included, which
 * commitToRemote cannot write) and pushes it.
 */
interface Attacker {
  edit(change: (dir: string) => Promise<unknown>): Promise<void>;
  /** Commits a change that `undo` takes back afterwards, whatever happened in between (a failed case must not leave it for the next). */
  around(change: (dir: string) => Promise<unknown>, body: () => Promise<unknown>): Promise<void>;
}

async function attacker(t: TestContext, remote: string, alsoReset?: string): Promise<Attacker> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'raas-test-attacker-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  await git(work, 'clone', '-q', remote, 'c');
  const dir = path.join(work, 'c');
  const branch = (await git(dir, 'symbolic-ref', '--short', 'HEAD')).trim();
  const edit = async (change: (dir: string) => Promise<unknown>) => {
    await git(dir, 'fetch', '-q', 'origin');
    await git(dir, 'reset', '-q', '--hard', `origin/${branch}`).catch(() => undefined);
    await change(dir);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-q', '--allow-empty', '-m', 'hostile edit');
    await git(dir, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
    // The operator's working copy (the configuration repository) takes what was pushed.
    if (alsoReset) {
      await git(alsoReset, 'fetch', '-q', 'origin');
      await git(alsoReset, 'reset', '-q', '--hard', `origin/${branch}`);
    }
  };
  return {
    edit,
    async around(change, body) {
      const saved = (await git(remote, 'rev-parse', branch)).trim();
      await edit(change);
      try {
        await body();
      } finally {
        await edit((d) => git(d, 'read-tree', '-u', '--reset', saved));
      }
    },
  };
}

/** A path, made sure to be replaced: links and directories alike. */
async function put(dir: string, rel: string, what: { link: string } | { text: string } | { dir: true }): Promise<void> {
  const at = path.join(dir, rel);
  await rm(at, { recursive: true, force: true });
  await mkdir(path.dirname(at), { recursive: true });
  if ('link' in what) await symlink(what.link, at);
  else if ('text' in what) await writeFile(at, what.text);
  else {
    await mkdir(at);
    await writeFile(path.join(at, 'x'), 'x');
  }
}

interface Outside {
  readonly dir: string;
  readonly file: string;
  readonly bytes: string;
}

/** Files outside every clone that a followed link would reach: they must never change. */
async function makeOutside(world: World): Promise<Outside> {
  const dir = path.join(world.root, 'outside');
  const bytes = `{"sentinel": "${Math.random()}"}\n`;
  await mkdir(path.join(dir, 'data'), { recursive: true });
  await writeFile(path.join(dir, 'sentinel.json'), bytes);
  await writeFile(path.join(dir, 'data', 'sentinel.json'), bytes);
  return { dir, file: path.join(dir, 'sentinel.json'), bytes };
}

const PUSH = (archive: string, extra: readonly string[] = []) => ['push', 'acme', 'acme/app', '--file', archive, ...extra];

interface Refusal {
  readonly code: number;
  /** Each must match stderr. */
  readonly expect: readonly RegExp[];
}

/** The checks every refused run passes; `run` happens after the snapshot. */
async function assertRefused(world: World, outside: Outside, refusal: Refusal, run: () => Promise<RunResult>): Promise<RunResult> {
  const before = await world.snapshot();
  const tree = await fileTree(world.root);
  const result = await run();
  assert.equal(result.code, refusal.code, `exit ${result.code}\n${result.stderr}`);
  for (const pattern of refusal.expect) assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /internal error|\n\s+at /, 'a stack trace was printed');
  assert.doesNotMatch(result.stderr, /^Deployed/m);
  assert.equal(result.stdout, '');
  assert.deepEqual(await world.snapshot(), before, 'storage, the Crane app or the configuration repository changed');
  assert.deepEqual(treeChanges(tree, await fileTree(world.root)), [], 'files in the world changed');
  assert.equal(await readFile(outside.file, 'utf8'), outside.bytes);
  return result;
}

async function setUp(t: TestContext): Promise<{ world: World; outside: Outside; archive: string }> {
  const world = await makeWorld(t, { storage: 'file' });
  const outside = await makeOutside(world);
  const archive = (await makeExample({ dir: path.join(world.root, 'archives'), format: 'pulp', layers: 2, tag: '1.0' })).file;
  const first = await world.raas(PUSH(archive));
  assert.equal(first.code, 0, first.stderr);
  return { world, outside, archive };
}

async function craneAppLinks(t: TestContext): Promise<void> {
  const { world, outside, archive } = await setUp(t);
  const app = await attacker(t, world.craneRemote);
  const cases: { name: string; rel: string; what: Parameters<typeof put>[2]; expect: RegExp }[] = [
    { name: 'the v1 redirect file is a link to a file outside', rel: 'crane/data/acme-acme-app.json', what: { link: outside.file }, expect: /crane\/data\/acme-acme-app\.json in the Crane app repository is a symbolic link/ },
    { name: 'the v2 redirect file is a relative link out', rel: 'crane/data/acme-acme-app@v2.json', what: { link: '../../../../outside/sentinel.json' }, expect: /acme-acme-app@v2\.json in the Crane app repository is a symbolic link/ },
    { name: 'crane/data is a link to a directory outside', rel: 'crane/data', what: { link: path.join(outside.dir, 'data') }, expect: /crane\/data in the Crane app repository is a symbolic link/ },
    { name: 'a component above it (crane) is a link', rel: 'crane', what: { link: outside.dir }, expect: /crane in the Crane app repository is a symbolic link/ },
    { name: 'a link to a directory inside crane/data', rel: 'crane/data/nested', what: { link: path.join(outside.dir, 'data') }, expect: /crane\/data\/nested in the Crane app repository is a symbolic link/ },
    { name: 'crane/data is a file', rel: 'crane/data', what: { text: 'not a directory' }, expect: /crane\/data in the Crane app repository is a file, where raas needs a directory/ },
    { name: 'the redirect file is a directory', rel: 'crane/data/acme-acme-app.json', what: { dir: true }, expect: /acme-acme-app\.json in the Crane app repository is a directory, where raas needs a file/ },
    { name: 'an unrelated 9 MiB JSON file in crane/data', rel: 'crane/data/unrelated.json', what: { text: `[${'0,'.repeat(4.5 * 1024 * 1024)}0]` }, expect: /crane\/data\/unrelated\.json in the Crane app repository is \d+ bytes, more than the 8388608 raas reads/ },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      await app.around((dir) => put(dir, c.rel, c.what), () =>
        assertRefused(world, outside, { code: 2, expect: [c.expect, /fix: replace it with|fix: remove the file/] }, () => world.raas(PUSH(archive, ['--tag', 'next']))));
    });
  }
  const again = await world.raas(PUSH(archive, ['--tag', 'next']));
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(Object.keys((await world.deployed('acme/app')).tags).sort(), ['1.0', 'next']);
}

async function previousShapes(t: TestContext): Promise<void> {
  const { world, outside, archive } = await setUp(t);
  const app = await attacker(t, world.craneRemote);
  const deployed = JSON.parse(await git(world.craneRemote, 'show', 'HEAD:crane/data/acme-acme-app.json'));
  const v1 = (change: Record<string, unknown>) => JSON.stringify({ ...deployed, ...change });
  const cases: { name: string; file: string; text: string; expect: RegExp }[] = [
    { name: 'images is not a list', file: 'acme-acme-app.json', text: v1({ images: { id: ID } }), expect: /images is missing or not a list/ },
    { name: 'an image id is a path', file: 'acme-acme-app.json', text: v1({ images: [...deployed.images, { id: '../../../etc/passwd' }] }), expect: /image id '\.\.\/\.\.\/\.\.\/etc\/passwd' is not 64 lowercase hex/ },
    { name: 'tags is not an object', file: 'acme-acme-app.json', text: v1({ tags: [] }), expect: /tags is missing or not an object/ },
    { name: 'a carried-over tag is not a valid tag', file: 'acme-acme-app.json', text: v1({ tags: { ...deployed.tags, '../evil tag': deployed.images[0].id } }), expect: /tag '\.\.\/evil tag' is not a valid tag/ },
    { name: 'the file is not JSON', file: 'acme-acme-app.json', text: '{"version": 1,', expect: /is not valid JSON/ },
    { name: 'the v2 file lists no array', file: 'acme-acme-app@v2.json', text: JSON.stringify({ ...JSON.parse(await git(world.craneRemote, 'show', 'HEAD:crane/data/acme-acme-app@v2.json')), schema2_data: 'x' }), expect: /schema2_data must be a list/ },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const file = c.file.replace(/[.@]/g, (m) => `\\${m}`);
      await app.around((dir) => writeFile(path.join(dir, 'crane/data', c.file), c.text), () =>
        assertRefused(world, outside, { code: 2, expect: [new RegExp(`the deployed crane/data/${file} of acme/app is not a redirect file raas can add to`), c.expect] },
          () => world.raas(PUSH(archive, ['--tag', 'next']))));
    });
  }
}

async function configRepoLinks(t: TestContext): Promise<void> {
  const { world, outside, archive } = await setUp(t);
  const config = await attacker(t, world.configRemote, world.configDir);
  const day = new Date().toISOString().slice(0, 10);
  const valid = JSON.stringify({ type: 'pulp-docker-redirect', version: 1, repository: 'rhel', 'repo-registry-id': 'rhel/base', url: 'https://cdn.example/rhel/', protected: false, images: [], tags: {} });
  await writeFile(path.join(outside.dir, 'rhel.json'), valid);
  const cases: { name: string; rel: string; what: Parameters<typeof put>[2]; expect: RegExp }[] = [
    { name: '<isv>/metadata is a link', rel: 'acme/metadata', what: { link: outside.dir }, expect: /acme\/metadata in the configuration repository is a symbolic link/ },
    { name: 'a backed-up metadata file is a link', rel: 'acme/metadata/acme-app.json', what: { link: outside.file }, expect: /acme\/metadata\/acme-app\.json in the configuration repository is a symbolic link/ },
    { name: '<isv>/logs is a link', rel: 'acme/logs', what: { link: outside.dir }, expect: /acme\/logs in the configuration repository is a symbolic link/ },
    { name: "the day's log is a link", rel: `acme/logs/${day}.log`, what: { link: outside.file }, expect: new RegExp(`acme/logs/${day}\\.log in the configuration repository is a symbolic link`) },
    { name: '<isv>/logs is a file', rel: 'acme/logs', what: { text: 'x' }, expect: /acme\/logs in the configuration repository is a file, where raas needs a directory/ },
    { name: 'the base metadata directory is a link', rel: 'redhat/metadata', what: { link: outside.dir }, expect: /redhat\/metadata in the configuration repository is a symbolic link/ },
    { name: 'a base metadata file is a link', rel: 'redhat/metadata/rhel.json', what: { link: path.join(outside.dir, 'rhel.json') }, expect: /redhat\/metadata\/rhel\.json in the configuration repository is a symbolic link/ },
    { name: 'a credentials file among the base metadata', rel: 'redhat/metadata/credentials.json', what: { text: '{"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "not-for-the-public"}' }, expect: /base-image metadata that is not a valid Crane redirect file would be deployed:\n.*redhat\/metadata\/credentials\.json: version undefined is not supported/ },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      await config.around((dir) => put(dir, c.rel, c.what), () =>
        assertRefused(world, outside, { code: 2, expect: [c.expect] }, () => world.raas(PUSH(archive, ['--tag', 'next']))));
    });
  }
}

async function configFileAndPaths(t: TestContext): Promise<void> {
  const { world, outside, archive } = await setUp(t);

  await t.test('raas.cfg committed as a link, read from a clone of RAAS_CONF_REPO', async () => {
    await writeFile(path.join(outside.dir, 'raas.cfg'), await readFile(path.join(world.configDir, 'raas.cfg')));
    const work = path.join(world.root, 'linked-config');
    await git(world.root, 'init', '-q', '-b', 'stage', work);
    await symlink(path.join(outside.dir, 'raas.cfg'), path.join(work, 'raas.cfg'));
    await git(work, 'add', '-A');
    await git(work, 'commit', '-q', '-m', 'raas.cfg is a link');
    const remote = path.join(world.root, 'linked-config.git');
    await git(world.root, 'clone', '-q', '--bare', work, remote);
    await rm(work, { recursive: true, force: true });
    const cwd = path.join(world.root, 'elsewhere');
    await mkdir(cwd, { recursive: true });
    await assertRefused(world, outside, { code: 2, expect: [/raas\.cfg in the configuration repository is a symbolic link/] },
      () => world.raas(PUSH(archive, ['--tag', 'next']), { cwd, env: { RAAS_CONF_REPO: remote } }));
  });

  for (const dataDir of ['.git', 'crane/.GIT/data', 'Crane/.git.']) {
    await t.test(`crane_data_dir = ${dataDir} is refused at config time`, async () => {
      const cfg = path.join(world.configDir, 'raas.cfg');
      const original = await readFile(cfg, 'utf8');
      await writeFile(cfg, original.replace('[acme]\n', `[acme]\ncrane_data_dir = ${dataDir}\n`));
      try {
        await assertRefused(world, outside, { code: 2, expect: [/\[acme\] crane_data_dir: '.*' is not valid: no \.git component/] }, () => world.raas(PUSH(archive, ['--tag', 'next'])));
      } finally {
        await writeFile(cfg, original);
      }
    });
  }

  await t.test('pre-receive hook declining with "fetch first" in its message', async () => {
    const hook = path.join(world.craneRemote, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\ncat >/dev/null\necho "! [rejected]        master -> master (fetch first)" >&2\necho "hint: Updates were rejected because the remote contains work that you do not have" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    const before = await world.snapshot();
    const run = await world.raas(PUSH(archive, ['--tag', 'declined'])).finally(() => rm(hook));
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /raas push: .*cannot push to .*crane\.git.*pre-receive hook declined/);
    assert.doesNotMatch(run.stderr, /catching up|kept changing/);
    assert.doesNotMatch(run.stderr, /internal error|\n\s+at /);
    const after = await world.snapshot();
    assert.equal(after.craneRefs, before.craneRefs, 'the Crane app changed');
    assert.deepEqual([after.configRefs, after.configHead, after.configStatus], [before.configRefs, before.configHead, before.configStatus]);
    // Objects before metadata: what this run stored is new, nothing stored before changed
    // (but the v2 tag list, which lists the new tag before it is deployed).
    for (const [key, digest] of before.objects) if (!/\/tags\/\.?list/.test(key)) assert.equal(after.objects.get(key), digest, key);
  });

  await t.test('a directory at ./acme-app.tar', async () => {
    const at = path.join(world.configDir, 'acme-app.tar');
    await mkdir(at);
    await writeFile(path.join(at, 'manifest.json'), '[]');
    try {
      await assertRefused(world, outside, { code: 2, expect: [/the archive .*acme-app\.tar is a directory, not a file/, /fix: /] }, () => world.raas(['push', 'acme', 'acme/app']));
    } finally {
      await rm(at, { recursive: true });
    }
  });

  await t.test('a FIFO at ./acme-app.tar (never opened, so raas does not hang)', async () => {
    const at = path.join(world.configDir, 'acme-app.tar');
    await execa('mkfifo', [at]);
    try {
      // Bounded: a raas that opens it waits for a writer until killed here.
      await assertRefused(world, outside, { code: 2, expect: [/the archive .*acme-app\.tar is a FIFO \(named pipe\), not a file/] },
        () => startRaas(t, world, ['push', 'acme', 'acme/app'], { timeoutMs: 15_000 }).done);
    } finally {
      await rm(at);
    }
  });
}

test('what the Crane app and configuration repositories hold cannot make raas write outside, hang, or report what it did not do', { concurrency: 4 }, async (t) => {
  await Promise.all([
    t.test('links and wrong kinds committed to the Crane app repository are refused, naming the path', craneAppLinks),
    t.test('previous redirect files of unexpected shapes are refused before anything is written', previousShapes),
    t.test('links and wrong kinds in the configuration repository, and base metadata that is no redirect file, are refused', configRepoLinks),
    t.test('raas.cfg as a link, crane_data_dir with .git, a hook saying "fetch first", a directory or FIFO at ./<image>.tar', configFileAndPaths),
  ]);
});
