import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { node20, pathWith, REPO } from '../helpers/node20.ts';

const RAAS = path.join(REPO, 'bin', 'raas');
const engines = (JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
const needed = engines.replace(/^>=\s*/, '');
/** The one line: the version found, the version needed, how to get one. */
const ONE_LINE = new RegExp(`^raas needs Node\\.js >= ${needed.replace(/\./g, '\\.')}(\\.0)?, but this is Node\\.js 20\\.\\d+\\.\\d+ \\([^)]+\\); get Node 24 with \`npm install --prefix \\S+ node@24\`.*nvm.*$`);
/** execa strips the final newline: one line is a stderr without any. */
const oneLine = (stderr: string) => assert.equal(stderr.split('\n').length, 1, stderr);

test('bin/raas on Node 20 says in one line which Node it found and needs and how to get one, and exits 2', async (t) => {
  const node = await node20(t);
  // Run as a user would (the #! line finds node on PATH), and with the binary named.
  for (const run of [
    await execa(RAAS, ['--version'], { reject: false, env: { PATH: pathWith(node) } }),
    await execa(node, [RAAS, 'status', '--all'], { reject: false }),
  ]) {
    assert.equal(run.exitCode, 2, run.stderr);
    assert.match(run.stderr, ONE_LINE);
    oneLine(run.stderr);
    assert.doesNotMatch(run.stderr, /\n\s+at |TypeError|Error/, 'no stack trace');
    assert.equal(run.stdout, '');
  }
});

test('npm install on Node 20 says the same once (preinstall) and goes on', async (t) => {
  const node = await node20(t);
  const run = await execa(node, [path.join(REPO, 'bin', 'node-version.cjs')], { reject: false });
  assert.equal(run.exitCode, 0);
  assert.match(run.stderr.replace(/ \(npm run example and npm test fetch it into \.tools\/ by themselves\)/, ''), ONE_LINE);
  assert.match(run.stderr, /npm run example and npm test fetch it/);
  oneLine(run.stderr);
  // The project's .npmrc keeps npm's per-dependency engine warnings from burying that line.
  assert.match(await readFile(path.join(REPO, '.npmrc'), 'utf8'), /^loglevel=error$/m);
});

test('npm run example on Node 20 installs Node 24 from npm once, said in one line, and publishes', async (t) => {
  const node = await node20(t);
  const tools = await mkdtemp(path.join(os.tmpdir(), 'raas-tools-'));
  const work = await mkdtemp(path.join(os.tmpdir(), 'raas-example-'));
  t.after(() => Promise.all([rm(tools, { recursive: true, force: true }), rm(work, { recursive: true, force: true })]));
  const env = { PATH: pathWith(node), RAAS_TOOLS_DIR: tools };
  const run = await execa('npm', ['run', 'example', '--', work], { cwd: REPO, env, reject: false });
  assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
  const said = run.stderr.split('\n').filter((l) => l.includes('installing Node 24'));
  assert.deepEqual(said, [`raas: Node ${(await execa(node, ['--version'])).stdout} is older than these commands need; installing Node 24 from npm (node@24) into ${tools} (once)`]);
  // The quick start ends in a pull through raas serve and a status that found nothing wrong.
  assert.match(run.stdout, /docker pull 127\.0\.0\.1:\d+\/demo\/hello/);
  assert.match(run.stdout, /Status of demo: 0 failed/);
  assert.match((await execa('git', ['-C', path.join(work, 'config'), 'log', '-2', '--format=%s'])).stdout, /^demo: raas status\ndemo: raas push demo\/hello$/);

  // Done once: the next run finds the Node it installed and says nothing about it.
  const again = await execa('bash', [path.join(REPO, 'scripts', 'with-node.sh'), '--strip-types', 'node', '--version'], { env, reject: false });
  assert.equal(again.exitCode, 0, again.stderr);
  assert.match(again.stdout, /^v24\./);
  assert.equal(again.stderr, '');
});
