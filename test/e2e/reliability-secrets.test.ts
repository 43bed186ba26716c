import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { execa } from 'execa';
import { makeExample } from '../helpers/archives.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { git } from '../helpers/git.ts';
import { leftovers, startFileHttp, startGitHttp } from '../helpers/reliability.ts';
import { makeWorld, type RunResult, type World } from '../helpers/world.ts';

/**
 * Issue 5, part 5: unique secret strings are planted wherever raas takes credentials:
 * [aws] secret_access_key and session_token (s3rver checks only the access key id, so any
 * secret works), the AWS environment chain, [openshift] password and auth_token (the rhc
 * stand-in, with RHC_STANDIN_ECHO_ARGV, repeats its command line, secrets included, in
 * its errors), credentials in the Crane app remote URL and in RAAS_CONF_REPO (git over
 * HTTP with Basic authentication), in [pulp] export_url and in a --file download URL.
 * raas.cfg only references them as ${VARIABLES}. Runs succeed and fail (wrong passwords,
 * unreachable hosts, refused storage); then stdout, stderr, --json output, the committed
 * run logs, every object of every git repository (history and unreachable objects
 * included) and every file left in the world and in TMPDIR are searched for each secret,
 * raw, URL-encoded and inside a Basic authorization value.
 */

const secret = (name: string) => `${name}-${randomBytes(9).toString('hex')}`;

interface Output {
  readonly where: string;
  readonly text: string;
}

/** Every way a secret could be written: as is, URL-encoded, and base64 inside a Basic authorization. */
function forms(value: string, user?: string): string[] {
  const out = [value, encodeURIComponent(value)];
  if (user) out.push(Buffer.from(`${user}:${value}`).toString('base64'));
  return out;
}

function findLeaks(outputs: readonly Output[], secrets: Readonly<Record<string, { value: string; user?: string }>>): string[] {
  const leaks: string[] = [];
  for (const { where, text } of outputs) {
    for (const [name, { value, user }] of Object.entries(secrets)) {
      for (const form of forms(value, user)) {
        const at = text.indexOf(form);
        if (at >= 0) leaks.push(`${name} in ${where}: …${text.slice(Math.max(0, at - 80), at + form.length + 20)}…`);
      }
    }
  }
  return leaks;
}

/** Every object of a repository (bare or not), reachable or not, as text. */
async function allObjects(repo: string): Promise<string> {
  const { stdout } = await execa('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd: repo, encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  return Buffer.from(stdout).toString('latin1');
}

/** Every file under `dir` but git object stores (searched decompressed instead) and `skip`. */
async function allFiles(dir: string, skip: readonly string[]): Promise<Output[]> {
  const out: Output[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (!entry.isFile() || file.split(path.sep).includes('objects') || skip.some((s) => file.startsWith(s))) continue;
    out.push({ where: file, text: (await readFile(file)).toString('latin1') });
  }
  return out;
}

async function commitCfg(world: World, edit: (text: string) => string): Promise<void> {
  const cfg = path.join(world.configDir, 'raas.cfg');
  await writeFile(cfg, edit(await readFile(cfg, 'utf8')));
  await git(world.configDir, 'commit', '-qam', 'configuration');
  await git(world.configDir, 'push', '-q');
}

async function freshTmp(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raas-secrets-tmp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('secrets in the configuration, the environment and URLs appear in no output, log, commit or file, in runs that work and runs that fail', async (t) => {
  const world = await makeWorld(t, { storage: 's3' });
  const secrets = {
    s3Secret: { value: secret('s3secret') },
    s3Token: { value: secret('s3token') },
    envSecret: { value: secret('envsecret') },
    envToken: { value: secret('envtoken') },
    appRemote: { value: secret('apppw'), user: 'deployer' },
    confRepo: { value: secret('confpw'), user: 'operator' },
    exportUrl: { value: secret('exportpw'), user: 'pulp' },
    download: { value: secret('dlpw'), user: 'fetcher' },
  };
  const example = await makeExample({ dir: world.root, format: 'pulp', layers: 2, tag: '1.0' });
  const appGit = await startGitHttp(t, world.root, 'deployer', secrets.appRemote.value);
  const confGit = await startGitHttp(t, world.root, 'operator', secrets.confRepo.value);
  const exports = await startFileHttp(t, example.file, 'pulp', secrets.exportUrl.value);
  const downloads = await startFileHttp(t, example.file, 'fetcher', secrets.download.value);
  const denied = await startFaultProxy({ target: world.s3!.endpoint, permanent: [{ key: /\/layer$/ }] });
  t.after(() => denied.stop());
  const portOf = (url: string) => new URL(url).port;

  await commitCfg(world, (text) =>
    text
      .replace(/app_remote = .*/, `app_remote = http://deployer:\${APP_TOKEN}@127.0.0.1:${portOf(appGit.url('x'))}/crane.git`)
      .replace('secret_access_key = ${TEST_S3_SECRET}', 'secret_access_key = ${S3_SECRET}\nsession_token = ${S3_TOKEN}')
      .concat(`\n[pulp]\nexport_url = http://pulp:\${EXPORT_TOKEN}@127.0.0.1:${portOf(exports.url('x'))}/exports/\n`),
  );
  const env = { APP_TOKEN: secrets.appRemote.value, S3_SECRET: secrets.s3Secret.value, S3_TOKEN: secrets.s3Token.value, EXPORT_TOKEN: secrets.exportUrl.value };
  const elsewhere = path.join(world.root, 'elsewhere');
  await mkdir(elsewhere);
  const confUrl = (password: string) => `http://operator:${password}@127.0.0.1:${portOf(confGit.url('x'))}/config.git`;
  const outputs: Output[] = [];
  const results: { name: string; code: number }[] = [];
  const tmp = await freshTmp(t);

  const run = async (name: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; code: number; edit?: (text: string) => string }) => {
    if (options.edit) await commitCfg(world, options.edit);
    for (const json of [false, true]) {
      const result: RunResult = await world.raas(['-l', 'debug', ...args, ...(json ? ['--json'] : [])], {
        env: { TMPDIR: tmp, ...env, ...options.env },
        ...(options.cwd ? { cwd: options.cwd } : {}),
      });
      assert.equal(result.code, options.code, `${name}: exit ${result.code}\n${result.stderr}`);
      outputs.push({ where: `${name}${json ? ' --json' : ''} stdout`, text: result.stdout }, { where: `${name}${json ? ' --json' : ''} stderr`, text: result.stderr });
      if (json) JSON.parse(result.stdout);
      results.push({ name: `${name}${json ? ' --json' : ''}`, code: result.code });
    }
  };
  const push = ['push', 'acme', 'acme/app'];
  const cloned = ['-c', 'master', ...push];

  await run('export_url download, app remote with credentials, S3 secret and session token', cloned, { code: 0, cwd: elsewhere, env: { RAAS_CONF_REPO: confUrl(secrets.confRepo.value) } });
  await run('--file URL with credentials', [...push, '--file', downloads.url('image.tar')], { code: 0 });
  await run('wrong app remote password', [...push, '--file', example.file], { code: 1, env: { APP_TOKEN: secret('wrongapppw') } });
  await run('wrong download password', [...push, '--file', downloads.url('image.tar').replace(secrets.download.value, secret('wrongdl'))], { code: 1 });
  await run('wrong export_url password', cloned, { code: 1, cwd: elsewhere, env: { RAAS_CONF_REPO: confUrl(secrets.confRepo.value), EXPORT_TOKEN: secret('wrongexport') } });
  await run('wrong RAAS_CONF_REPO password', cloned, { code: 1, cwd: elsewhere, env: { RAAS_CONF_REPO: confUrl(secret('wrongconf')) } });
  await run('storage refuses the layers', [...push, '--file', example.file], { code: 1, edit: (text) => text.replace(/endpoint = .*/, `endpoint = ${denied.endpoint}`) });
  await run('unreachable app remote with credentials', [...push, '--file', example.file], {
    code: 1,
    edit: (text) => text.replace(/endpoint = .*/, `endpoint = ${world.s3!.endpoint}`).replace(/app_remote = http:\/\/deployer:\$\{APP_TOKEN\}@127\.0\.0\.1:\d+/, 'app_remote = http://deployer:${APP_TOKEN}@127.0.0.1:9'),
  });
  // The AWS environment chain instead of keys in raas.cfg.
  const chain = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: secrets.envSecret.value, AWS_SESSION_TOKEN: secrets.envToken.value };
  await run('AWS credentials from the environment', [...push, '--file', example.file, '--tag', 'env'], {
    code: 0, env: chain,
    edit: (text) => text.replace(/app_remote = http:\/\/deployer:\$\{APP_TOKEN\}@127\.0\.0\.1:9/, `app_remote = http://deployer:\${APP_TOKEN}@127.0.0.1:${portOf(appGit.url('x'))}`).replace(/^(access_key_id|secret_access_key|session_token) = .*\n/gm, ''),
  });
  await run('AWS credentials from the environment, storage refuses', [...push, '--file', example.file], {
    code: 1, env: chain, edit: (text) => text.replace(/endpoint = .*/, `endpoint = ${denied.endpoint}`),
  });

  const logs = await git(world.configRemote, 'log', '-p', '--all');
  assert.match(logs, /"msg":"raas push"/, 'the run logs are committed');
  const everything: Output[] = [
    ...outputs,
    { where: 'git log -p --all of the configuration repository', text: logs },
    { where: 'objects of the configuration repository', text: await allObjects(world.configRemote) },
    { where: 'objects of the configuration working copy', text: await allObjects(world.configDir) },
    { where: 'objects of the Crane app repository', text: await allObjects(world.craneRemote) },
    ...(await allFiles(world.root, [])),
    ...(await allFiles(tmp, [])),
  ];
  assert.deepEqual(findLeaks(everything, secrets), []);
  assert.deepEqual(await leftovers(tmp), []);
  t.diagnostic(`${Object.keys(secrets).length} secrets, ${results.length} runs (${results.filter((r) => r.code === 0).length} succeeded, ${results.filter((r) => r.code !== 0).length} failed), ${everything.length} outputs and files searched (${Math.round(everything.reduce((n, o) => n + o.text.length, 0) / 1024)} KiB): no secret found`);
});

test('OpenShift credentials that rhc repeats in its errors appear nowhere', async (t) => {
  const world = await makeWorld(t, {
    storage: 'file', platform: 'openshift',
    extraCfg: '[openshift]\nusername = operator\npassword = ${RHC_PASSWORD:-}\nauth_token = ${RHC_TOKEN:-}\n',
  });
  const secrets = { password: { value: `pw!$-${secret('rhcpw')}` }, token: { value: secret('rhctoken') }, wrongPassword: { value: secret('wrongpw') }, wrongToken: { value: secret('wrongtoken') } };
  const example = await makeExample({ dir: world.root, format: 'pulp', layers: 2, tag: '1.0' });
  const tmp = await freshTmp(t);
  const standin = { RHC_STANDIN_PASSWORD: secrets.password.value, RHC_STANDIN_TOKEN: secrets.token.value, RHC_STANDIN_ECHO_ARGV: '1', TMPDIR: tmp };
  const outputs: Output[] = [];
  const cases: [string, NodeJS.ProcessEnv, number][] = [
    ['password', { RHC_PASSWORD: secrets.password.value }, 0],
    ['token', { RHC_TOKEN: secrets.token.value }, 0],
    ['wrong password', { RHC_PASSWORD: secrets.wrongPassword.value }, 1],
    ['wrong token', { RHC_TOKEN: secrets.wrongToken.value }, 1],
  ];
  for (const [name, env, code] of cases) {
    for (const json of [false, true]) {
      const result = await world.raas(['-l', 'debug', 'push', 'acme', 'acme/app', '--file', example.file, ...(json ? ['--json'] : [])], { env: { ...standin, ...env } });
      assert.equal(result.code, code, `${name}: ${result.stderr}`);
      if (code !== 0) assert.match(result.stderr, /\(command: rhc .* (-p|--token) \*\*\*\)/, 'the stand-in echoed its command line');
      outputs.push({ where: `${name} stdout`, text: result.stdout }, { where: `${name} stderr`, text: result.stderr });
    }
  }
  const everything: Output[] = [
    ...outputs,
    { where: 'git log -p --all of the configuration repository', text: await git(world.configRemote, 'log', '-p', '--all') },
    { where: 'objects of the configuration repository', text: await allObjects(world.configRemote) },
    { where: 'objects of the Crane app repository', text: await allObjects(world.craneRemote) },
    // The stand-in records every command line, secrets included, by design: it is not raas.
    ...(await allFiles(world.root, [world.rhc!.home])),
  ];
  assert.deepEqual(findLeaks(everything, secrets), []);
  assert.deepEqual(await leftovers(tmp), []);
  t.diagnostic(`4 OpenShift secrets, ${cases.length * 2} runs (half failing with rhc echoing its argv): no secret found`);
});
