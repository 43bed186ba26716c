import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { startServer } from '../../src/serve/server.ts';
import { dirSnapshot } from '../../src/serve/source.ts';
import { git, makeBareRepo, tempDir } from './git.ts';
import { useRhcStandin, type RhcStandin } from './rhc/standin.ts';
import { startS3, type S3Server } from './s3.ts';

/**
 * A whole raas installation for end-to-end tests, all real but rhc: s3rver on loopback or a
 * storage directory, a bare git repository as the Crane app (or the rhc stand-in's app),
 * and the private configuration repository as a bare remote with a working copy holding
 * raas.cfg. `raas()` runs the built CLI (bin/raas) as a user would.
 */
export interface WorldOptions {
  readonly storage?: 's3' | 'file';
  /** none: layout = distribution, no Crane app (a stock registry reads the store). */
  readonly platform?: 'git' | 'openshift' | 'none';
  /** `[aws] prefix` */
  readonly prefix?: string;
  /** `[redhat] mask_layers` */
  readonly mask?: readonly string[];
  /** Files for `redhat/metadata/` in the configuration repository. */
  readonly baseMetadata?: Readonly<Record<string, string>>;
  /** Extra lines for the ISV section and for the end of raas.cfg. */
  readonly isvLines?: readonly string[];
  readonly extraCfg?: string;
  /** Nothing exists yet for raas setup to find: no bucket or storage directory, no OpenShift domain or app. */
  readonly empty?: boolean;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Everything a user could observe of the installation, to compare before and after a run. */
export interface Snapshot {
  readonly objects: ReadonlyMap<string, string>;
  readonly craneRefs: string;
  readonly configRefs: string;
  readonly configHead: string;
  readonly configStatus: string;
}

export interface World {
  readonly root: string;
  readonly isv: 'acme';
  readonly configDir: string;
  readonly configRemote: string;
  readonly craneRemote: string;
  readonly s3: S3Server | undefined;
  readonly bucket: string;
  readonly storageDir: string;
  readonly rhc: RhcStandin | undefined;
  /** The Crane-compatible server the openshift app's URL points at (serves nothing until data is given). */
  readonly registryUrl: string;
  readonly env: NodeJS.ProcessEnv;
  raas(args: readonly string[], options?: { env?: NodeJS.ProcessEnv; cwd?: string }): Promise<RunResult>;
  /** Object key (relative to the bucket or directory) -> sha256 of its bytes. */
  objects(): Promise<Map<string, string>>;
  object(key: string): Promise<Buffer>;
  snapshot(): Promise<Snapshot>;
  /** The deployed Crane metadata file of an image, parsed. */
  deployed(image: string): Promise<{ url: string; images: { id: string }[]; tags: Record<string, string> }>;
  /** Point raas.cfg's [aws] endpoint elsewhere (a proxy in front of s3rver), committed and pushed as an operator would. */
  useEndpoint(endpoint: string): Promise<void>;
}

export const RAAS_BIN = fileURLToPath(new URL('../../bin/raas', import.meta.url));
/**
 * Test worlds keep parts at 16 MiB (raas's default is 64): the reliability and resume
 * suites need multipart uploads, and layers of 20-48 MiB keep them quick.
 */
const PART_SIZE_LINE = 'part_size = 16';
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function walk(dir: string, base = dir): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? walk(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))])),
  );
  return nested.flat();
}

export async function makeWorld(t: TestContext, options: WorldOptions = {}): Promise<World> {
  const root = await tempDir(t, 'raas-world-');
  const storage = options.storage ?? 's3';
  const platform = options.platform ?? 'git';
  const s3 = storage === 's3' ? await startS3() : undefined;
  if (s3) t.after(() => s3.stop());
  const bucket = !s3 ? '' : options.empty ? 'acme-registry' : await s3.bucket('acme-registry');
  const storageDir = path.join(root, 'storage');
  if (storage === 'file' && !options.empty) await mkdir(storageDir);

  const crane = await startServer({ source: await dirSnapshot(path.join(root, 'crane-served')) });
  t.after(() => crane.close());
  let rhc: RhcStandin | undefined;
  let craneRemote: string;
  if (platform === 'openshift') {
    rhc = await useRhcStandin(t, { appUrl: crane.url });
    if (!options.empty) {
      await execa('rhc', ['domain', 'create', 'acme']);
      const seed = await makeBareRepo(path.join(root, 'crane-source.git'), { files: { 'crane/data/.keep': '' } });
      await execa('rhc', ['app', 'create', 'registry', 'python-2.7', '-n', 'acme', '--from-code', seed, '--no-git']);
    }
    craneRemote = rhc.gitUrl('acme', 'registry');
  } else {
    craneRemote = await makeBareRepo(path.join(root, 'crane.git'));
  }

  const isvLines = [
    ...(s3 ? ['storage = s3', `s3_bucket = ${bucket}`] : ['storage = file', `storage_dir = ${storageDir}`]),
    ...(platform === 'git' ? ['platform = git', `app_remote = ${craneRemote}`, 'registry_url = http://registry.acme.test:5000'] : platform === 'none' ? ['layout = distribution'] : ['platform = openshift']),
    ...(options.isvLines ?? []),
  ];
  const cfg = [
    '[redhat]',
    `mask_layers = ${(options.mask ?? []).join(', ')}`,
    '',
    ...(s3
      ? ['[aws]', `endpoint = ${s3.endpoint}`, 'force_path_style = true', 'region = us-east-1', 'access_key_id = ${TEST_S3_KEY}', 'secret_access_key = ${TEST_S3_SECRET}', `prefix = ${options.prefix ?? ''}`, PART_SIZE_LINE, '']
      : []),
    '[acme]',
    ...isvLines,
    '',
    options.extraCfg ?? '',
  ].join('\n');

  const configRemote = await makeBareRepo(path.join(root, 'config.git'), {
    files: { 'raas.cfg': cfg, ...Object.fromEntries(Object.entries(options.baseMetadata ?? {}).map(([n, text]) => [`redhat/metadata/${n}`, text])) },
  });
  const configDir = path.join(root, 'config');
  await git(root, 'clone', '-q', configRemote, configDir);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEST_S3_KEY: s3?.credentials.accessKeyId ?? 'unused',
    TEST_S3_SECRET: s3?.credentials.secretAccessKey ?? 'unused',
    GIT_AUTHOR_NAME: 'raas e2e', GIT_AUTHOR_EMAIL: 'e2e@raas.invalid',
    GIT_COMMITTER_NAME: 'raas e2e', GIT_COMMITTER_EMAIL: 'e2e@raas.invalid',
    RAAS_CONF_REPO: '',
    // Journals of incomplete writes and cached layer digests are per user; each world keeps its own.
    XDG_STATE_HOME: path.join(root, 'state'),
    XDG_CACHE_HOME: path.join(root, 'cache'),
  };

  const world: World = {
    root, isv: 'acme', configDir, configRemote, craneRemote, s3, bucket, storageDir, rhc, registryUrl: crane.url, env,
    async raas(args, runOptions = {}) {
      const result = await execa(process.execPath, [RAAS_BIN, ...args], {
        cwd: runOptions.cwd ?? configDir, env: { ...env, ...runOptions.env }, extendEnv: false, reject: false, timeout: 120_000, stdin: 'ignore', stripFinalNewline: false,
      });
      return { code: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    async objects() {
      const out = new Map<string, string>();
      if (!s3) {
        for (const key of await walk(storageDir)) out.set(key, sha256(await readFile(path.join(storageDir, key))));
        return out;
      }
      let token: string | undefined;
      do {
        const page = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out.set(o.Key!, sha256(await world.object(o.Key!)));
        token = page.NextContinuationToken;
      } while (token);
      return out;
    },
    async object(key) {
      if (!s3) return readFile(path.join(storageDir, key));
      const got = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await got.Body!.transformToByteArray());
    },
    async snapshot() {
      return {
        objects: await world.objects(),
        craneRefs: await git(craneRemote, 'for-each-ref'),
        configRefs: await git(configRemote, 'for-each-ref'),
        configHead: (await git(configDir, 'rev-parse', 'HEAD')).trim(),
        configStatus: await git(configDir, 'status', '--porcelain', '--untracked-files=all'),
      };
    },
    async useEndpoint(endpoint) {
      const cfg = path.join(configDir, 'raas.cfg');
      await writeFile(cfg, (await readFile(cfg, 'utf8')).replace(/^endpoint = .*$/m, `endpoint = ${endpoint}`));
      await git(configDir, 'commit', '-qam', `storage at ${endpoint}`);
      await git(configDir, 'push', '-q');
    },
    async deployed(image) {
      const text = await git(craneRemote, 'show', `HEAD:crane/data/acme-${image.replace('/', '-')}.json`);
      return JSON.parse(text);
    },
  };
  return world;
}

/** Write a file into the world's root (for archives made by tests). */
export const writeInWorld = async (world: World, name: string, data: Buffer | string): Promise<string> => {
  const file = path.join(world.root, name);
  await writeFile(file, data);
  return file;
};
