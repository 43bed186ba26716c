import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { execa } from 'execa';
import { startDaemon } from './daemon.ts';
import { tempDir } from './git.ts';
import { freePort } from './serve.ts';

/**
 * Crane 3.3.1 itself, the front end raas's crane layouts are written for, run from its own
 * source on this machine's Python 3. Crane is Python 2 only and archived; nothing here may
 * fetch it, so the source is a git repository of github.com/pulp/crane named by
 * RAAS_TEST_CRANE (.ci/run names one when the machine has it). The copy is converted with
 * lib2to3 and given three compatibility edits that change no registry behaviour: Python 3's
 * ConfigParser wants text and `read_file`, and the `rhsm` package (certificate-based
 * repository protection, unused by raas) is an empty stub.
 */
export const CRANE_TAG = '3.3.1';
const PYTHON = '/usr/bin/python3';

/** Why Crane cannot run here, or undefined when it can. */
export async function craneUnavailable(): Promise<string | undefined> {
  const source = process.env['RAAS_TEST_CRANE'];
  if (!source) return 'RAAS_TEST_CRANE is unset (a git clone of github.com/pulp/crane with tag 3.3.1)';
  const tag = await execa('git', ['-C', source, 'rev-parse', '--verify', '-q', `refs/tags/${CRANE_TAG}`], { reject: false });
  if (tag.exitCode !== 0) return `${source} has no tag ${CRANE_TAG}`;
  const python = await execa(PYTHON, ['-c', 'import flask, lib2to3'], { reject: false });
  if (python.exitCode !== 0) return `${PYTHON} cannot import flask and lib2to3 (Debian package python3-flask; Python 3.12 or older): ${python.stderr.split('\n').at(-1)}`;
  return undefined;
}

export interface RunningCrane {
  /** "127.0.0.1:<port>" */
  readonly host: string;
  readonly url: string;
  log(): string;
}

/** Crane's source at the tag, converted (about 2 s). */
async function craneSource(t: TestContext): Promise<string> {
  const dir = await tempDir(t, 'raas-crane-src-');
  await execa('bash', ['-c', `git -C "$0" archive ${CRANE_TAG} crane | tar -x -C "$1"`, process.env['RAAS_TEST_CRANE']!, dir]);
  await execa(PYTHON, ['-m', 'lib2to3', '--write', '--nobackups', '--no-diffs', path.join(dir, 'crane')], { env: { PYTHONWARNINGS: 'ignore' } });
  const config = path.join(dir, 'crane/config.py');
  const text = await readFile(config, 'utf8');
  const patched = text
    .replace('parser.readfp(default_config)', 'parser.read_file(__import__("io").TextIOWrapper(default_config))')
    .replace('parser.readfp(config_file)', 'parser.read_file(config_file)');
  if (patched === text) throw new Error('crane/config.py no longer reads its config with readfp: the compatibility edit is stale');
  await writeFile(config, patched);
  await mkdir(path.join(dir, 'rhsm'));
  for (const stub of ['__init__.py', 'certificate.py', 'certificate2.py']) await writeFile(path.join(dir, 'rhsm', stub), '');
  return dir;
}

/** Crane serving the redirect files in `dataDir` on a free loopback port, until the test ends. */
export async function startCrane(t: TestContext, dataDir: string): Promise<RunningCrane> {
  const source = await craneSource(t);
  await access(dataDir);
  const port = await freePort();
  const config = path.join(await tempDir(t, 'raas-crane-'), 'crane.conf');
  // Crane reads every [general] key from the file it is given; the defaults file covers the rest.
  await writeFile(config, ['[general]', 'debug: false', `data_dir: ${dataDir}`, 'data_dir_polling_interval: 60', 'endpoint:', ''].join('\n'));
  const program = `from crane.app import create_app; create_app().run(host='127.0.0.1', port=${port}, use_reloader=False)`;
  const daemon = startDaemon(t, PYTHON, ['-c', program], { CRANE_CONFIG_PATH: config, PYTHONPATH: source, PYTHONWARNINGS: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (daemon.exited() !== undefined) throw new Error(`Crane exited (${daemon.exited()}):\n${daemon.log()}`);
    const answer = await fetch(`${url}/v2/`).catch(() => undefined);
    await answer?.body?.cancel();
    if (answer?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`Crane did not answer ${url}/v2/ within 20 s:\n${daemon.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, url, log: daemon.log };
}
