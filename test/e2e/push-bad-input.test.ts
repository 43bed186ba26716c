import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { makeExample } from '../helpers/archives.ts';
import { hostileCases } from '../helpers/hostile.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * Every bad input of the push issue: a clear message (what, where, how to fix), a non-zero
 * exit, and storage, the Crane app and the configuration repository exactly as before.
 */

interface Case {
  readonly name: string;
  readonly code: number;
  readonly message: RegExp;
  /** Prepare the case; returns the raas arguments. */
  prepare(world: World, cfg: string, good: string): Promise<string[]>;
  /** Run raas here instead of the configuration repository's working copy. */
  readonly cwd?: (world: World) => string;
}

const push = (file: string, ...more: string[]) => ['push', 'acme', 'acme/app', '--file', file, ...more];
const editCfg = (cfg: string, edit: (text: string) => string) => async () => writeFile(cfg, edit(await readFile(cfg, 'utf8')));

const cases: Case[] = [
  {
    name: 'missing raas.cfg and no RAAS_CONF_REPO', code: 2, message: /no raas.cfg in .* and RAAS_CONF_REPO is not set\n\s+fix: run raas in your configuration repository/,
    cwd: (world) => path.join(world.root, 'empty'),
    prepare: async (world, _cfg, good) => {
      await mkdir(path.join(world.root, 'empty'), { recursive: true });
      return push(good);
    },
  },
  {
    name: '--config without raas.cfg', code: 2, message: /--config: no raas.cfg in .*empty\n\s+fix: pass the directory that holds raas.cfg/,
    prepare: async (world, _cfg, good) => {
      await mkdir(path.join(world.root, 'empty'), { recursive: true });
      return [...push(good), '--config', path.join(world.root, 'empty')];
    },
  },
  {
    name: 'unknown ISV section', code: 2, message: /no section \[globex\] for ISV 'globex'.*\n\s+fix: use one of: acme/s,
    prepare: async (_w, _c, good) => ['push', 'globex', 'acme/app', '--file', good],
  },
  {
    name: 'invalid bucket name', code: 2, message: /raas.cfg:\d+ \[acme\] s3_bucket: 'Acme_Bucket' is not valid: use 3 to 63/,
    prepare: async (_w, cfg, good) => (await editCfg(cfg, (t) => t.replace(/s3_bucket = .*/, 's3_bucket = Acme_Bucket'))(), push(good)),
  },
  {
    name: 'invalid boolean', code: 2, message: /\[aws\] force_path_style: 'sure' is not a boolean\n\s+fix: use true or false/,
    prepare: async (_w, cfg, good) => (await editCfg(cfg, (t) => t.replace('force_path_style = true', 'force_path_style = sure'))(), push(good)),
  },
  {
    name: 'invalid gear size', code: 2, message: /\[acme\] openshift_gear_size: 'xxl' is not one of small, small.highcpu, medium, large/,
    prepare: async (_w, cfg, good) => (await editCfg(cfg, (t) => t.replace('[acme]', '[acme]\nopenshift_gear_size = xxl'))(), push(good)),
  },
  {
    name: 'missing required key', code: 2, message: /\[acme\] s3_bucket: s3_bucket is required for storage = s3\n\s+fix: add "s3_bucket = \.\.\." to \[acme\]/,
    prepare: async (_w, cfg, good) => (await editCfg(cfg, (t) => t.replace(/s3_bucket = .*\n/, ''))(), push(good)),
  },
  {
    name: '${VAR} unset without default', code: 2, message: /1 problem in the configuration:\n.*\[aws\] secret_access_key: environment variable TEST_S3_SECRET is not set/,
    prepare: async (world, _c, good) => {
      delete world.env.TEST_S3_SECRET;
      return push(good);
    },
  },
  {
    name: 'invalid image name', code: 2, message: /'ACME\/App' is not a valid image name: the namespace must be 4 to 30/,
    prepare: async (_w, _c, good) => ['push', 'acme', 'ACME/App', '--file', good],
  },
  {
    name: 'archive not found', code: 2, message: /archive not found: .*nowhere.tar/,
    prepare: async (world) => push(path.join(world.root, 'nowhere.tar')),
  },
  {
    name: 'every layer masked', code: 2, message: /every layer of the image is masked/,
    prepare: async (world, cfg, good) => {
      const plan = JSON.parse((await world.raas(push(good, '--dry-run', '--json', '--no-commit'))).stdout);
      const ids = plan.present.map((key: string) => key.split('/')[1]);
      await editCfg(cfg, (t) => t.replace('mask_layers = ', `mask_layers = ${[...new Set(ids)].join(',')}`))();
      return push(good);
    },
  },
  {
    name: 'forbidden bucket', code: 1, message: /s3:\/\/acme-registry.*(403|denied|forbidden|credentials)/is,
    prepare: async (world, _c, good) => {
      world.env.TEST_S3_KEY = 'WRONGKEY1234';
      return push(good);
    },
  },
  {
    name: 'missing bucket', code: 1, message: /bucket .*no-such-bucket.* does not exist/i,
    prepare: async (_w, cfg, good) => (await editCfg(cfg, (t) => t.replace(/s3_bucket = .*/, 's3_bucket = no-such-bucket'))(), push(good)),
  },
  {
    name: 'unreachable bucket endpoint', code: 1, message: /127\.0\.0\.1:9/,
    prepare: async (_w, cfg, good) => (await editCfg(cfg, (t) => t.replace(/endpoint = .*/, 'endpoint = http://127.0.0.1:9'))(), push(good)),
  },
  {
    // A new image, so that uploading anything before finding the remote unreachable would show.
    name: 'unreachable app remote', code: 1, message: /cannot reach the Crane app repository \/nonexistent\/crane\.git/,
    prepare: async (_w, cfg, good) => (await editCfg(cfg, (t) => t.replace(/app_remote = .*/, 'app_remote = /nonexistent/crane.git'))(), ['push', 'acme', 'acme/other', '--file', good]),
  },
];

// Archive problems of the list, from the hostile corpus (all of it runs in the reliability suite).
const ARCHIVE_CASES = ['not-a-tar', 'truncated-tar', 'corrupt-gzip', 'dotdot-traversal', 'absolute-path', 'symlink-outside', 'hardlink-outside',
  'missing-layer', 'ancestry-disagrees', 'parent-cycle', 'non-hex-id', 'tag-missing-image'];

test('every bad input fails clearly and leaves storage, the Crane app and the config repository unchanged', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const good = (await makeExample({ dir: world.root, format: 'pulp', layers: 2 })).file;
  // Something already published, so "unchanged" means more than "still empty".
  const published = await world.raas(push(good));
  assert.equal(published.code, 0, published.stderr);
  const cfg = path.join(world.configDir, 'raas.cfg');
  const pristine = await readFile(cfg, 'utf8');
  const env = { ...world.env };

  const archiveCases: Case[] = ARCHIVE_CASES.map((name) => {
    const hostile = hostileCases.find((c) => c.name === name);
    assert.ok(hostile, name);
    return {
      name: `archive: ${name}`, code: 2, message: new RegExp(hostile.expect.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
      prepare: async (w: World) => {
        const file = path.join(w.root, `${name}.tar`);
        await hostile.write(file);
        return push(file);
      },
    };
  });

  for (const c of [...cases, ...archiveCases]) {
    await t.test(c.name, async () => {
      await writeFile(cfg, pristine);
      Object.assign(world.env, env);
      for (const key of Object.keys(world.env)) if (!(key in env)) delete world.env[key];
      const args = await c.prepare(world, cfg, good);
      const before = await world.snapshot();
      const run = await world.raas(args, c.cwd ? { cwd: c.cwd(world) } : {});
      assert.equal(run.code, c.code, `${c.name}: exit ${run.code}\n${run.stderr}`);
      assert.match(run.stderr, c.message);
      assert.match(run.stderr, /^raas push: /m, 'the error is labelled with the command');
      assert.equal(run.stdout, '', 'nothing on stdout for a failed run without --json');
      assert.deepEqual(await world.snapshot(), before, `${c.name} changed something`);
    });
  }
  await writeFile(cfg, pristine);
});
