import { writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { git, makeBareRepo } from '../test/helpers/git.ts';
import { S3RVER_CREDENTIALS } from '../test/helpers/s3.ts';
import { startS3Process, type S3Process } from './processes.ts';

// The installation: s3rver, a configuration repository, Crane app remotes

export interface Bench {
  readonly dir: string;
  readonly s3: S3Process;
  /** The configuration repository's working copy: raas runs here and reads its raas.cfg. */
  readonly configDir: string;
  /** Environment for raas: the bench's AWS credentials, git identity and temp directory. */
  readonly raasEnv: NodeJS.ProcessEnv;
  readonly awsEnv: NodeJS.ProcessEnv;
  /** Profile one more raas run for each missed target. */
  readonly profile: boolean;
  /** A new name for a bucket, directory or repository. */
  fresh(prefix: string): string;
  /** Empty raas's layer digest cache, so the next push is a first push: it reads every layer. */
  forgetDigests(): Promise<void>;
}

/**
 * The environment every child gets: none of the user's AWS or raas settings (so neither a
 * profile nor ~/.aws/config changes what is measured), the s3rver credentials, a git
 * identity for raas's commits, and TMPDIR inside the bench directory.
 */
function childEnv(dir: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('RAAS_')));
  const awsConfig = path.join(dir, 'aws-config');
  // The AWS CLI addresses buckets path-style, as raas does with force_path_style.
  writeFileSync(awsConfig, '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
  return {
    ...env,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: awsConfig,
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'aws-credentials-none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    GIT_AUTHOR_NAME: 'raas bench', GIT_AUTHOR_EMAIL: 'bench@raas.invalid',
    GIT_COMMITTER_NAME: 'raas bench', GIT_COMMITTER_EMAIL: 'bench@raas.invalid',
    TMPDIR: path.join(dir, 'tmp'),
    // raas's journal of incomplete writes and its layer digest cache stay in the bench directory too.
    XDG_STATE_HOME: path.join(dir, 'state'),
    XDG_CACHE_HOME: path.join(dir, 'cache'),
  };
}

/**
 * One raas.cfg for every run: the bucket, the storage directory and the Crane app remote
 * come from the environment (${BENCH_*}), so each run gets fresh ones without a new
 * configuration commit. ISV `bs3` stores in S3, `bfile` in a directory; both deploy to a
 * bare git repository as the Crane app (platform git), as the tests do. `bdist` writes
 * Distribution's layout into a directory (platform none), for the peer case.
 */
function raasCfg(endpoint: string): string {
  return [
    '[aws]',
    `endpoint = ${endpoint}`,
    'force_path_style = true',
    'region = us-east-1',
    'access_key_id = ${AWS_ACCESS_KEY_ID}',
    'secret_access_key = ${AWS_SECRET_ACCESS_KEY}',
    '',
    '[bs3]',
    'storage = s3',
    's3_bucket = ${BENCH_BUCKET}',
    'platform = git',
    'app_remote = ${BENCH_CRANE}',
    'registry_url = ${BENCH_REGISTRY:-http://registry.bench.invalid:5000}',
    '',
    '[bfile]',
    'storage = file',
    'storage_dir = ${BENCH_DIR}',
    // The serving case serves the store with raas serve, whose URL goes into the metadata.
    'public_url = ${BENCH_PUBLIC_URL:-}',
    'platform = git',
    'app_remote = ${BENCH_CRANE}',
    'registry_url = ${BENCH_REGISTRY:-http://registry.bench.invalid:5000}',
    '',
    // The peer case: Distribution's layout in a directory, read by docker-registry (no Crane app).
    '[bdist]',
    'storage = file',
    'storage_dir = ${BENCH_DIR}',
    'layout = distribution',
    'registry_url = ${BENCH_REGISTRY:-http://registry.bench.invalid:5000}',
    '',
  ].join('\n');
}

export async function makeBench(dir: string, profile: boolean): Promise<Bench> {
  const env = childEnv(dir);
  await mkdir(env.TMPDIR!, { recursive: true });
  const s3 = await startS3Process(env);
  const configRemote = await makeBareRepo(path.join(dir, 'config.git'), { files: { 'raas.cfg': raasCfg(s3.endpoint) } });
  const configDir = path.join(dir, 'config');
  await git(dir, 'clone', '-q', configRemote, configDir);
  let counter = 0;
  return {
    dir, s3, configDir,
    // Placeholders so raas.cfg always resolves; each run sets the ones it uses.
    raasEnv: { ...env, BENCH_BUCKET: 'unused', BENCH_DIR: path.join(dir, 'unused'), BENCH_CRANE: path.join(dir, 'unused.git') },
    awsEnv: env,
    profile,
    fresh: (prefix) => `${prefix}-${++counter}`,
    forgetDigests: () => rm(path.join(env.XDG_CACHE_HOME!, 'raas'), { recursive: true, force: true }),
  };
}

export async function createBucket(bench: Bench, name: string): Promise<string> {
  await bench.s3.client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Empty and delete a bucket, so s3rver's disk use stays at one run's worth. */
export async function deleteBucket(bench: Bench, bucket: string): Promise<void> {
  const { client } = bench.s3;
  for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    for (let i = 0; i < keys.length; i += 1000) {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000), Quiet: true } }));
    }
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
