import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { tempDir } from '../helpers/git.ts';
import { REPO } from '../helpers/node20.ts';

const { version } = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };

test('npm pack makes a package that installs globally with raas on PATH', async (t) => {
  const dir = await tempDir(t, 'raas-pack-');
  // --ignore-scripts: dist/ is already built (npm test builds first); prepare rebuilds it for a plain npm pack.
  const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  for (const needed of ['bin/raas', 'bin/node-version.cjs', 'bin/package.json', 'dist/cli/main.js', 'package.json', 'LICENSE', 'CHANGELOG.md', 'README.md', 'raas.cfg.template']) {
    assert.ok(files.includes(needed), `${needed} is in the package`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources and tests stay out');

  const prefix = path.join(dir, 'prefix');
  const installed = await execa('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, info!.filename)], { reject: false });
  assert.equal(installed.exitCode, 0, installed.stderr);
  const PATH = `${path.join(prefix, 'bin')}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`;
  const run = await execa('raas', ['--version'], { env: { PATH }, reject: false });
  assert.deepEqual([run.exitCode, run.stdout, run.stderr], [0, version, '']);
  const help = await execa('raas', ['status', '--help'], { env: { PATH } });
  assert.match(help.stdout, /^Usage: raas status/);
});
