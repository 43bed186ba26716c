import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { openConfigRepo } from '../../src/configrepo/repo.ts';
import { ConfigError, InputError, OperationError } from '../../src/errors.ts';
import { createLogger, silentLogger } from '../../src/log.ts';
import {
  commitAuthor, commitCount, commitMessages, commitToRemote, filesAt, git, makeBareRepo, moveRemoteOnNextPush, tempDir,
} from '../helpers/git.ts';

// As on a CI machine: no global or system git config, so no committer identity.
process.env.GIT_CONFIG_GLOBAL = '/dev/null';
process.env.GIT_CONFIG_NOSYSTEM = '1';

const NOW = new Date('2026-03-04T23:59:00Z');
const LOG = 'acme/logs/2026-03-04.log';
const logger = silentLogger();

function capturingLogger() {
  const lines: string[] = [];
  const terminal = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  return { logger: createLogger({ level: 'warn', terminal }), lines };
}

async function runLog(dir: string, name: string, lines: string[]): Promise<string> {
  const file = path.join(dir, `${name}.log`);
  await writeFile(file, lines.map((l) => `${JSON.stringify({ msg: l })}\n`).join(''));
  return file;
}

async function setup(t: TestContext) {
  const root = await tempDir(t);
  const remote = await makeBareRepo(path.join(root, 'conf.git'), { files: { 'raas.cfg': '[acme]\n', 'other/metadata/x.json': 'x' } });
  return { root, remote };
}

describe('openConfigRepo from a URL', () => {
  it('clones the branch, backs up metadata and the run log, commits and pushes', async (t) => {
    const { root, remote } = await setup(t);
    const repo = await openConfigRepo({ url: remote, branch: 'master', workDir: path.join(root, 'w'), logger });
    assert.equal(await readFile(path.join(repo.dir, 'raas.cfg'), 'utf8'), '[acme]\n');

    const logFile = await runLog(root, 'run1', ['first run']);
    const result = await repo.backup({ isv: 'acme', command: 'push', image: 'acme/app', metadata: [{ name: 'acme-app.json', text: '{}\n' }], logFile, now: NOW });
    assert.deepEqual(result.files, ['acme/metadata/acme-app.json', LOG]);
    assert.equal(result.pushed, true);
    assert.equal(result.commit, (await git(remote, 'rev-parse', 'master')).trim());
    assert.deepEqual(await commitMessages(remote), ['acme: raas push acme/app', 'initial']);
    assert.equal(await commitAuthor(remote), 'raas <raas@localhost>');

    await repo.backup({ isv: 'acme', command: 'status', metadata: [], logFile: await runLog(root, 'run2', ['second run']), now: NOW });
    const files = await filesAt(remote);
    assert.equal(files.get('acme/metadata/acme-app.json'), '{}\n');
    assert.equal(files.get(LOG), '{"msg":"first run"}\n{"msg":"second run"}\n');
    assert.equal(files.get('other/metadata/x.json'), 'x');
    assert.deepEqual((await commitMessages(remote))[0], 'acme: raas status');
  });

  it('makes no commit when nothing changed, and none with noCommit', async (t) => {
    const { root, remote } = await setup(t);
    const repo = await openConfigRepo({ url: remote, workDir: path.join(root, 'w'), logger });
    const metadata = [{ name: 'a.json', text: 'a' }];
    await repo.backup({ isv: 'acme', command: 'push', metadata });
    const again = await repo.backup({ isv: 'acme', command: 'push', metadata });
    assert.deepEqual([again.commit, again.pushed], [undefined, false]);
    const skipped = await repo.backup({ isv: 'acme', command: 'push', metadata: [{ name: 'b.json', text: 'b' }], noCommit: true });
    assert.deepEqual(skipped, { files: ['acme/metadata/b.json'], commit: undefined, pushed: false });
    assert.equal(await readFile(path.join(repo.dir, 'acme/metadata/b.json'), 'utf8'), 'b');
    assert.equal(await commitCount(remote), 2);
  });

  it('lands two operators backing up at once without losing a log line', async (t) => {
    const { root, remote } = await setup(t);
    const operators = await Promise.all(
      ['one', 'two', 'three'].map(async (name) => ({
        name,
        repo: await openConfigRepo({ url: remote, workDir: path.join(root, name), logger }),
        logFile: await runLog(root, name, Array.from({ length: 20 }, (_, i) => `${name} line ${i}`)),
      })),
    );
    await Promise.all(
      operators.map((o) => o.repo.backup({ isv: 'acme', command: 'push', image: `acme/${o.name}`, metadata: [{ name: `${o.name}.json`, text: o.name }], logFile: o.logFile, now: NOW })),
    );
    const files = await filesAt(remote);
    const log = files.get(LOG)!.split('\n').filter(Boolean);
    assert.equal(log.length, 60);
    for (const o of operators) {
      assert.equal(files.get(`acme/metadata/${o.name}.json`), o.name);
      // Each run's lines stay together and in order.
      const mine = log.filter((l) => l.includes(`${o.name} line`));
      assert.deepEqual(mine, Array.from({ length: 20 }, (_, i) => JSON.stringify({ msg: `${o.name} line ${i}` })));
    }
    assert.equal(await commitCount(remote), 4);
  });

  it('merges a log line another operator appended between fetch and push', async (t) => {
    const { root, remote } = await setup(t);
    await commitToRemote(remote, { files: { [LOG]: '{"msg":"earlier"}\n' } });
    const repo = await openConfigRepo({ url: remote, workDir: path.join(root, 'w'), logger });
    await moveRemoteOnNextPush(remote, { file: LOG, append: '{"msg":"theirs"}\n' });
    const result = await repo.backup({ isv: 'acme', command: 'push', metadata: [], logFile: await runLog(root, 'mine', ['mine']), now: NOW });
    assert.equal(result.pushed, true);
    assert.equal((await filesAt(remote)).get(LOG), '{"msg":"earlier"}\n{"msg":"theirs"}\n{"msg":"mine"}\n');
    assert.deepEqual((await commitMessages(remote)).slice(0, 2), ['acme: raas push', 'moved by another operator']);
  });

  it('keeps its own metadata when another operator changed the same file meanwhile', async (t) => {
    const { root, remote } = await setup(t);
    const repo = await openConfigRepo({ url: remote, workDir: path.join(root, 'w'), logger });
    await moveRemoteOnNextPush(remote, { file: 'acme/metadata/app.json', append: 'theirs' });
    await repo.backup({ isv: 'acme', command: 'push', metadata: [{ name: 'app.json', text: 'mine' }] });
    assert.equal((await filesAt(remote)).get('acme/metadata/app.json'), 'mine');
  });

  it('names an unreachable repository without credentials', async (t) => {
    const root = await tempDir(t);
    await assert.rejects(
      openConfigRepo({ url: 'https://op:t0psecret@127.0.0.1:9/conf.git', workDir: root, logger }),
      (error: unknown) => error instanceof OperationError && /configuration repository https:\/\/\*\*\*@127\.0\.0\.1:9\/conf\.git/.test(error.message) && !/t0psecret/.test(`${error.message}${error.where}`),
    );
  });

  it('refuses ISV and file names that would leave the ISV directory', async (t) => {
    const { root, remote } = await setup(t);
    const repo = await openConfigRepo({ url: remote, workDir: path.join(root, 'w'), logger });
    await assert.rejects(repo.backup({ isv: '../x', command: 'push', metadata: [] }), ConfigError);
    await assert.rejects(repo.backup({ isv: 'acme', command: 'push', metadata: [{ name: '../../raas.cfg', text: '' }] }), InputError);
    assert.equal(await commitCount(remote), 1);
  });
});

describe('openConfigRepo on the user\'s checkout', () => {
  it('commits only the ISV\'s files and does not push without an upstream', async (t) => {
    const root = await tempDir(t);
    const dir = path.join(root, 'conf');
    await git(root, 'init', '-q', '-b', 'main', dir);
    await writeFile(path.join(dir, 'raas.cfg'), 'v1\n');
    await writeFile(path.join(dir, '.gitignore'), '*.log\n');
    await git(dir, 'add', '.');
    await git(dir, 'commit', '-q', '-m', 'mine');
    await writeFile(path.join(dir, 'raas.cfg'), 'v2 staged\n');
    await git(dir, 'add', 'raas.cfg');
    await writeFile(path.join(dir, 'notes.txt'), 'untracked\n');

    const { logger: warnings, lines } = capturingLogger();
    const repo = await openConfigRepo({ dir, workDir: path.join(root, 'w'), logger: warnings });
    const result = await repo.backup({ isv: 'acme', command: 'push', metadata: [{ name: 'a.json', text: 'a' }], logFile: await runLog(root, 'r', ['x']), now: NOW });
    assert.equal(result.pushed, false);
    assert.match(lines.join(''), /warn: the configuration repository in .* has no upstream branch/);
    assert.deepEqual((await git(dir, 'show', '--name-only', '--format=', 'HEAD')).split('\n').filter(Boolean), ['acme/logs/2026-03-04.log', 'acme/metadata/a.json']);
    assert.equal((await git(dir, 'diff', '--cached', '--name-only')).trim(), 'raas.cfg');
    assert.match(await git(dir, 'status', '--porcelain'), /\?\? notes\.txt/);
  });

  it('catches up with its upstream, keeping the user\'s uncommitted work', async (t) => {
    const { root, remote } = await setup(t);
    const dir = path.join(root, 'conf');
    await git(root, 'clone', '-q', remote, dir);
    await writeFile(path.join(dir, 'raas.cfg'), '[acme]\nlocal edit\n');
    await commitToRemote(remote, { files: { 'beta/metadata/b.json': 'b' }, message: 'another operator' });

    const repo = await openConfigRepo({ dir, workDir: path.join(root, 'w'), logger });
    const result = await repo.backup({ isv: 'acme', command: 'push', metadata: [{ name: 'a.json', text: 'a' }] });
    assert.equal(result.pushed, true);
    assert.deepEqual(await commitMessages(remote), ['acme: raas push', 'another operator', 'initial']);
    assert.equal(await readFile(path.join(dir, 'raas.cfg'), 'utf8'), '[acme]\nlocal edit\n');
    assert.equal(await readFile(path.join(dir, 'beta/metadata/b.json'), 'utf8'), 'b');
  });

  it('writes but does not commit in a directory that is not a git working copy', async (t) => {
    const root = await tempDir(t);
    const { logger: warnings, lines } = capturingLogger();
    const repo = await openConfigRepo({ dir: root, workDir: path.join(root, '.w'), logger: warnings });
    const result = await repo.backup({ isv: 'acme', command: 'push', metadata: [{ name: 'a.json', text: 'a' }] });
    assert.deepEqual(result, { files: ['acme/metadata/a.json'], commit: undefined, pushed: false });
    assert.match(lines.join(''), /is not a git working copy/);
  });
});
