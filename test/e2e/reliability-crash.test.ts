import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { git } from '../helpers/git.ts';
import {
  assertConsistent, leftovers, makePauses, pulpArchive, startGateProxy, startRaas, waitForFile, type GateProxy, type Pauses, type SeenRequest,
} from '../helpers/reliability.ts';
import { makeWorld, type World } from '../helpers/world.ts';

/**
 * Issue 5, part 3: SIGKILL at points spread through a push: while reading, during
 * uploads (requests held mid-body by a proxy, and after the Nth upload), between the
 * uploads and the metadata, during the Crane app's git push (before it, in the server's
 * pre-receive and post-receive hooks), and during the backup to the configuration
 * repository. The whole process group dies, git and hooks included, as in a crash.
 *
 * After each kill: whatever the Crane app serves and the backup records is in storage
 * with the right bytes. Then the same push runs again and must end with the expected
 * state: every tag pushed so far deployed and backed up, the backup equal to what is
 * deployed, the working copy clean and pushed, and the killed run's temporary directory
 * removed (raas removes those of dead runs).
 */

interface Context {
  readonly world: World;
  /** In front of s3rver (S3 worlds only). */
  readonly proxy?: GateProxy;
  readonly pauses: Pauses;
}

/** How a kill point is reached: prepared before raas starts, awaited while it runs. */
interface Armed {
  readonly env?: NodeJS.ProcessEnv;
  reached(run: ReturnType<typeof startRaas>): Promise<unknown>;
  /** Undo what was prepared (hooks, held requests). */
  disarm?(): Promise<void> | void;
}

interface KillPoint {
  readonly name: string;
  readonly stage: 'read' | 'upload' | 'between' | 'deploy' | 'backup';
  /** Layer sizes of the round's archive (default three small layers). */
  readonly layers?: readonly number[];
  arm(ctx: Context): Promise<Armed>;
  /** What the rerun must be helped with first, as its message says (git's own lock). */
  readonly repair?: (ctx: Context, rerun: { code: number; stderr: string }) => Promise<boolean>;
}

const afterLine = (pattern: RegExp, count = 1): KillPoint['arm'] => async () => ({ reached: (run) => run.line(pattern, count) });

/** Holds the nth storage request `match` accepts, half its body sent. */
const holding = (match: (r: SeenRequest) => boolean, nth = 1): KillPoint['arm'] => async ({ proxy }) => {
  let seen = 0;
  let release: (() => void) | undefined;
  const held = proxy!.hold((r) => match(r) && ++seen === nth).then((h) => (release = h.release));
  return { reached: () => held, disarm: () => release?.() };
};

const gitPause = (subcommand: string, dir: (ctx: Context) => string): KillPoint['arm'] => async (ctx) => {
  const pause = ctx.pauses.git(subcommand, dir(ctx));
  return { env: pause.env, reached: (run) => waitForFile(pause.marker, { while: run }), disarm: () => pause.release() };
};

const hookPause = (repo: (ctx: Context) => string, name: 'pre-receive' | 'post-receive' | 'pre-commit'): KillPoint['arm'] => async (ctx) => {
  const pause = await ctx.pauses.hook(repo(ctx), name);
  return {
    reached: (run) => waitForFile(pause.marker, { while: run }),
    disarm: async () => {
      await pause.remove();
      await pause.release();
    },
  };
};

/** Bigger than the part size test worlds set (16 MiB), so it goes up in parts. */
const MULTIPART = 24 * 1024 * 1024;
const isObjectPut = (r: SeenRequest) => r.method === 'PUT' && r.key.startsWith('acme-app/') && !r.query.includes('partNumber');
const APP_CLONE = '*/app/clone-*';

const KILL_POINTS: readonly KillPoint[] = [
  { name: 'at start', stage: 'read', arm: afterLine(/^debug: raas push$/) },
  { name: 'archive read', stage: 'read', arm: afterLine(/^Read pulp archive/) },
  { name: 'upload planned', stage: 'read', arm: afterLine(/objects to upload/) },
  { name: '1st object PUT mid-body', stage: 'upload', arm: holding(isObjectPut, 1) },
  { name: '5th object PUT mid-body', stage: 'upload', arm: holding(isObjectPut, 5) },
  { name: '9th (last) object PUT mid-body', stage: 'upload', arm: holding(isObjectPut, 9) },
  { name: 'after 1st upload', stage: 'upload', arm: afterLine(/^debug: uploaded /, 1) },
  { name: 'after 4th upload', stage: 'upload', arm: afterLine(/^debug: uploaded /, 4) },
  { name: 'after 9th upload (the last v1 object)', stage: 'upload', arm: afterLine(/^debug: uploaded /, 9) },
  { name: 'multipart: part 2 mid-body', stage: 'upload', layers: [MULTIPART, 2048], arm: holding((r) => r.method === 'PUT' && r.query.includes('partNumber=2')) },
  { name: 'multipart: completing', stage: 'upload', layers: [MULTIPART, 2048], arm: holding((r) => r.method === 'POST' && r.query.includes('uploadId=')) },
  { name: 'before cloning the Crane app', stage: 'between', arm: gitPause('clone', () => '*/app') },
  { name: 'before committing the metadata', stage: 'between', arm: gitPause('commit', () => APP_CLONE) },
  { name: 'before git push to the Crane app', stage: 'deploy', arm: gitPause('push', () => APP_CLONE) },
  { name: 'Crane app pre-receive (pack sent, ref not moved)', stage: 'deploy', arm: hookPause((c) => c.world.craneRemote, 'pre-receive') },
  { name: 'Crane app post-receive (ref moved, raas not told)', stage: 'deploy', arm: hookPause((c) => c.world.craneRemote, 'post-receive') },
  { name: 'after "Deployed"', stage: 'deploy', arm: afterLine(/^Deployed /) },
  { name: 'backup files written, before git add', stage: 'backup', arm: gitPause('add', (c) => c.world.configDir) },
  {
    name: 'backup commit running (index.lock held)', stage: 'backup', arm: hookPause((c) => c.world.configDir, 'pre-commit'),
    // git's own rule: a lock file left by a killed git stays until someone removes it.
    repair: async ({ world }, rerun) => {
      const lock = path.join(world.configDir, '.git', 'index.lock');
      if (rerun.code === 0 || !existsSync(lock)) return false;
      assert.match(rerun.stderr, /index\.lock': File exists/);
      await rm(lock);
      return true;
    },
  },
  { name: 'backup committed, before git push', stage: 'backup', arm: gitPause('push', (c) => c.world.configDir) },
  { name: 'config repo pre-receive', stage: 'backup', arm: hookPause((c) => c.world.configRemote, 'pre-receive') },
  { name: 'config repo post-receive', stage: 'backup', arm: hookPause((c) => c.world.configRemote, 'post-receive') },
  { name: 'after "backed up"', stage: 'backup', arm: afterLine(/^debug: backed up /) },
];

/** Kill, check, rerun, check, for each point in turn, on one world; returns the table rows. */
async function killEach(t: TestContext, ctx: Context, points: readonly KillPoint[], options: { strict: boolean }): Promise<{ rows: string[]; incomplete: number }> {
  const { world } = ctx;
  const tmpRoot = await mkdtemp(path.join(os.tmpdir(), 'raas-crash-tmp-'));
  t.after(() => rm(tmpRoot, { recursive: true, force: true }));
  const expected = new Map<string, string>();
  const tags = new Map<string, string>();
  const rows: string[] = [];
  let incomplete = 0;
  for (const [i, point] of points.entries()) {
    await t.test(`${i + 1}. ${point.stage}: ${point.name}`, async () => {
      const round = await pulpArchive(world.root, { tag: `r${i + 1}`, layers: point.layers ?? [2048, 2048, 2048] });
      for (const [k, v] of round.objects) expected.set(k, v);
      const tmp = await mkdtemp(path.join(tmpRoot, `${i + 1}-`));
      const args = ['-l', 'debug', 'push', 'acme', 'acme/app', '--file', round.file];

      const armed = await point.arm(ctx);
      const run = startRaas(t, world, args, { env: { TMPDIR: tmp, ...armed.env } });
      await Promise.race([
        armed.reached(run),
        run.done.then((f) => assert.fail(`raas ended (exit ${f.code}) before the kill point:\n${f.stderr}`)),
      ]);
      run.kill('SIGKILL');
      const killed = await run.done;
      await armed.disarm?.();
      assert.equal(killed.signal, 'SIGKILL', `raas ended before the kill (exit ${killed.code}):\n${killed.stderr}`);

      // Nothing dangling, nothing published before its objects; with the file store, nothing partial visible.
      const after = await assertConsistent(world, expected, { strict: options.strict });
      const deployedTags = Object.keys(JSON.parse(after.deployed.get('acme-acme-app.json') ?? '{"tags":{}}').tags);
      for (const tag of tags.keys()) assert.ok(deployedTags.includes(tag), `the kill lost tag ${tag} published earlier`);
      const deployedNow = deployedTags.includes(round.tag);
      const backedUp = after.backup.has('acme-app.json') && Object.keys(JSON.parse(after.backup.get('acme-app.json')!).tags).includes(round.tag);
      const left = (await leftovers(tmp)).filter((f) => !f.includes(path.sep)).length;
      incomplete += after.incomplete.length;

      let rerun = await world.raas(args, { env: { TMPDIR: tmp } });
      const repaired = rerun.code !== 0 && (await point.repair?.(ctx, rerun)) === true;
      if (repaired) rerun = await world.raas(args, { env: { TMPDIR: tmp } });
      assert.equal(rerun.code, 0, `the rerun failed:\n${rerun.stderr}`);
      tags.set(round.tag, round.ids.at(-1)!);

      const final = await assertConsistent(world, expected, { strict: true });
      for (const key of round.objects.keys()) assert.ok(final.objects.has(key), `${key} is missing after the rerun`);
      const deployed = JSON.parse(final.deployed.get('acme-acme-app.json')!);
      assert.deepEqual(deployed.tags, Object.fromEntries(tags), 'the deployed tags after the rerun');
      for (const [name, text] of final.deployed) {
        if (name.startsWith('acme-acme-app')) assert.equal(final.backup.get(name.slice('acme-'.length)), text, `the backup of ${name} differs from what is deployed`);
      }
      assert.deepEqual(await leftovers(tmp), [], 'temporary files left after the rerun');
      assert.equal(await git(world.configDir, 'status', '--porcelain'), '', 'the configuration working copy is not clean');
      assert.equal((await git(world.configDir, 'rev-parse', 'HEAD')).trim(), (await git(world.configRemote, 'rev-parse', 'HEAD')).trim(), 'the backup is not pushed');
      assert.ok(!existsSync(path.join(world.configDir, '.git', 'raas-backup.lock')), 'the backup lock is left behind');
      // The rerun aborted what the killed run's journal held: no partial file, nothing outstanding.
      if (!world.s3) assert.deepEqual((await leftovers(world.storageDir)).filter((f) => f.includes('.partial-')), [], 'partial files of the killed run remain');
      assert.deepEqual(await readdir(path.join(world.env.XDG_STATE_HOME!, 'raas', 'writes')).catch(() => []), [], 'the killed run\'s journal remains');
      const uploaded = (rerun.stderr.match(/^Uploaded /gm) ?? []).length;
      rows.push(
        `| ${i + 1} | ${point.stage} | ${point.name} | ${killed.ms} | ${deployedNow ? 'yes' : 'no'} | ${backedUp ? 'yes' : 'no'} | ${left} | ${uploaded} | ${rerun.code}${repaired ? ' (after removing index.lock)' : ''} |`,
      );
    });
  }
  return { rows, incomplete };
}

const HEADER = '| # | stage | killed at | ms | deployed | backed up | temp dirs left | rerun uploads | rerun |';

test('SIGKILL at 23 points of a push to S3: nothing dangling after the kill, and the rerun finishes the push', async (t) => {
  assert.ok(KILL_POINTS.length >= 20);
  const world = await makeWorld(t, { storage: 's3' });
  const proxy = await startGateProxy(t, world.s3!.endpoint);
  const pauses = await makePauses(t, world.root);
  await world.useEndpoint(proxy.endpoint);
  const { rows, incomplete } = await killEach(t, { world, proxy, pauses }, KILL_POINTS, { strict: false });
  t.diagnostic([HEADER, ...rows].join('\n'));
  t.diagnostic(`${incomplete} unreferenced objects held partial bodies after a kill (s3rver keeps what arrived); every rerun replaced them`);
});

/** The file store's writes are raas's own (partial file, then rename): no kill may leave a visible partial object. */
const FILE_KILL_POINTS: readonly KillPoint[] = [
  {
    name: 'a 32 MiB layer half written', stage: 'upload', layers: [32 * 1024 * 1024, 2048],
    arm: async ({ world }) => ({
      reached: async (run) => {
        const partial = async () => (await leftovers(world.storageDir).catch(() => [] as string[])).some((f) => f.includes('.partial-'));
        while (!(await partial())) {
          if (run.lines.some((l) => l.startsWith('Deployed '))) assert.fail('no write was caught in progress');
          await new Promise((r) => setTimeout(r, 2));
        }
      },
    }),
  },
  { name: 'after 2nd upload', stage: 'upload', arm: afterLine(/^debug: uploaded /, 2) },
  { name: 'Crane app pre-receive', stage: 'deploy', arm: hookPause((c) => c.world.craneRemote, 'pre-receive') },
  { name: 'backup committed, before git push', stage: 'backup', arm: gitPause('push', (c) => c.world.configDir) },
];

test('SIGKILL at points of a push to the file store: no partial object is ever visible, and the rerun finishes the push', async (t) => {
  const world = await makeWorld(t, { storage: 'file' });
  const pauses = await makePauses(t, world.root);
  const { rows } = await killEach(t, { world, pauses }, FILE_KILL_POINTS, { strict: true });
  t.diagnostic([HEADER, ...rows].join('\n'));
});
