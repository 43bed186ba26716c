import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { git, tempDir } from '../helpers/git.ts';

/**
 * `npm run example` as a new user runs it: examples/quickstart/run.sh publishes hello.tar,
 * serves it with raas serve, pulls it and runs raas status, which must all succeed; then
 * again into the same directory. The first run has no skopeo on PATH, so it pulls with the
 * quick start's own Node client; the second pulls with skopeo.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN = path.join(ROOT, 'examples/quickstart/run.sh');
const HELLO = path.join(ROOT, 'examples/quickstart/hello.tar');

/** What run.sh and raas need, without skopeo. */
const TOOLS = ['bash', 'env', 'node', 'git', 'mkdir', 'cp', 'rm', 'find', 'sort', 'cat', 'dirname', 'mktemp'];

async function pathWithoutSkopeo(dir: string): Promise<string> {
  await mkdir(dir);
  for (const tool of TOOLS) {
    const found = (await execa('bash', ['-c', `command -v ${tool}`])).stdout.trim();
    await symlink(found, path.join(dir, tool));
  }
  return dir;
}

const portIsFree = (port: number): Promise<boolean> => new Promise((resolve) => {
  const server = net.createServer();
  server.once('error', () => resolve(false));
  server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
});

/** The diff_ids of hello.tar's image config (docker-archive: manifest.json names the config file). */
async function helloDiffIds(dir: string): Promise<string[]> {
  await execa('tar', ['-xf', HELLO, '-C', dir]);
  const [{ Config }] = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as [{ Config: string }];
  return (JSON.parse(await readFile(path.join(dir, Config!), 'utf8')) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
}

test('the quick start ends in a pull and a status that is 0, twice into one directory', { timeout: 120_000 }, async (t) => {
  const root = await tempDir(t, 'raas-quickstart-test-');
  const work = path.join(root, 'work');
  const env = {
    ...process.env,
    // raas's digest cache and journal stay in the test's directory.
    XDG_CACHE_HOME: path.join(root, 'cache'), XDG_STATE_HOME: path.join(root, 'state'),
  };

  const first = await execa('bash', [RUN, work], { env: { ...env, PATH: await pathWithoutSkopeo(path.join(root, 'bin')) }, reject: false, all: true });
  assert.equal(first.exitCode, 0, first.all);
  const port = Number(await readFile(path.join(work, 'port'), 'utf8'));
  assert.match(first.stdout, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}\\n`));
  assert.match(first.stdout, /node client\.mjs pull .* \(skopeo is not on PATH\)/);
  assert.match(first.stdout, /pulled demo\/hello:1\.0 \(sha256:[0-9a-f]{64}\): the manifest, the config and 2 layers, \d+ bytes, every digest checked/);
  assert.match(first.stdout, /Status of demo: 0 failed, 0 warnings, \d+ ok/);
  assert.match(first.stdout, new RegExp(`registry-data http://127\\.0\\.0\\.1:${port}: raas serve serves commit [0-9a-f]{12}, 2 repositories, the app repository's latest`));
  assert.match(first.stdout, /v2-tags demo\/hello: 1 tag resolves/);
  assert.equal(await portIsFree(port), true, 'raas serve was stopped');

  const metadata = await git(path.join(work, 'crane.git'), 'show', 'HEAD:crane/data/demo-demo-hello@v2.json');
  assert.equal((JSON.parse(metadata) as { url: string }).url, `http://127.0.0.1:${port}/demo-hello/v2/`, 'no file:// URL in what is published');

  const second = await execa('bash', [RUN, work], { env, reject: false, all: true });
  assert.equal(second.exitCode, 0, second.all);
  assert.equal(Number(await readFile(path.join(work, 'port'), 'utf8')), port, 'the second run keeps the free port, so the metadata stays as it is');
  assert.match(second.stdout, /crane\/data\/demo-demo-hello\.json unchanged/);
  assert.match(second.stdout, /pulled demo\/hello:1\.0 into .*\/pulled \(an OCI layout\), every digest checked by skopeo/);
  assert.match(second.stdout, /Status of demo: 0 failed, 0 warnings, \d+ ok/);

  // What skopeo pulled is the image of hello.tar: its config's diff_ids, layer by layer.
  const pulled = path.join(work, 'pulled');
  const blob = async (digest: string) => readFile(path.join(pulled, 'blobs', ...digest.split(':')));
  const index = JSON.parse(await readFile(path.join(pulled, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse((await blob(index.manifests[0]!.digest)).toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const config = JSON.parse((await blob(manifest.config.digest)).toString()) as { rootfs: { diff_ids: string[] } };
  const extracted = path.join(root, 'hello');
  await mkdir(extracted);
  assert.deepEqual(config.rootfs.diff_ids, await helloDiffIds(extracted));
  assert.equal(manifest.layers.length, 2);
  for (const layer of manifest.layers) assert.ok(existsSync(path.join(pulled, 'blobs', ...layer.digest.split(':'))));
  assert.equal(await portIsFree(port), true);
});
