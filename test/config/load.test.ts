import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseConfig, isvConfig } from '../../src/config/load.ts';
import { locateConfig } from '../../src/config/locate.ts';
import { ConfigError } from '../../src/errors.ts';
import { scrub } from '../../src/log.ts';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  assert.fail('expected an error');
}

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

const good = `
[redhat]
# masked base layers, one per line as in the original
mask_layers =
    ${ID_A}
    sha256:${ID_B}, ${ID_A}

[openshift]
server_url = https://openshift.example.com
password = \${OS_PASSWORD:-fallback-pass}

[aws]
region = eu-west-1
endpoint = http://127.0.0.1:9000
force_path_style = yes
prefix = registries
access_key_id = \${KEY_ID}
secret_access_key = \${SECRET_KEY}

[acme]
s3_bucket = acme.bucket
openshift_gear_size = small.highcpu

[Local]
storage = file
storage_dir = ./store
platform = git
app_remote = ../crane.git
registry_url = http://localhost:5000
`;

test('a complete raas.cfg becomes typed values with defaults', () => {
  const config = parseConfig('/etc/raas/raas.cfg', good, { KEY_ID: 'AKIAEXAMPLE', SECRET_KEY: 'planted-secret-9431' });
  assert.deepEqual(config.redhat.maskLayers, [ID_A, `sha256:${ID_B}`]);
  assert.deepEqual(config.redhat.metadata, ['/etc/raas/redhat/metadata']);
  assert.equal(config.openshift.password, 'fallback-pass');
  assert.equal(config.openshift.cartridge, 'python-2.7');
  assert.deepEqual(config.aws.credentials, { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'planted-secret-9431' });
  assert.equal(config.aws.prefix, 'registries/');
  assert.equal(config.aws.forcePathStyle, true);
  assert.equal(config.aws.maxConcurrency, 8);
  assert.equal(config.aws.partSize, undefined, 'the store chooses part sizes unless part_size is set');
  const acme = isvConfig(config, 'ACME');
  assert.deepEqual(acme.storage, { kind: 's3', bucket: 'acme.bucket', publicUrl: undefined });
  assert.deepEqual(acme.platform, { kind: 'openshift', domain: 'acme', app: 'registry', scale: true, gearSize: 'small.highcpu' });
  assert.equal(acme.craneDataDir, 'crane/data');
  const local = isvConfig(config, 'local');
  assert.deepEqual(local.storage, { kind: 'file', dir: '/etc/raas/store', publicUrl: undefined });
  assert.deepEqual(local.platform, { kind: 'git', remote: '/etc/crane.git' });
  // Secrets read from raas.cfg are masked wherever they would be printed.
  assert.equal(scrub('signing with planted-secret-9431 now'), 'signing with *** now');
});

test('every problem is reported at once, with file, line, section, key and a fix', () => {
  const text = `
[aws]
force_path_style = maybe
acces_key_id = x

[acme]
s3_bucket = Bad_Bucket
openshift_gear_size = huge
openshift_app = my-app!

[beta]
storage = file

[gamma]
s3_bucket = gamma.bucket
public_url = \${GAMMA_URL}
`;
  const error = thrown(() => parseConfig('/c/raas.cfg', text, {}));
  assert.ok(error instanceof ConfigError);
  const m = error.message;
  assert.match(m, /7 problems/);
  assert.match(m, /\/c\/raas.cfg:3 \[aws\] force_path_style: 'maybe' is not a boolean\n {4}fix: use true or false/);
  assert.match(m, /\/c\/raas.cfg:4 \[aws\] acces_key_id: unknown key 'acces_key_id'\n {4}fix: did you mean access_key_id\?/);
  assert.match(m, /:7 \[acme\] s3_bucket: 'Bad_Bucket' is not valid: use 3 to 63 of a-z/);
  assert.match(m, /:8 \[acme\] openshift_gear_size: 'huge' is not one of small, small.highcpu, medium, large/);
  assert.match(m, /:9 \[acme\] openshift_app: 'my-app!' is not valid: use 1 to 32 letters or digits/);
  assert.match(m, /\[beta\] storage_dir: storage_dir is required for storage = file/);
  assert.match(m, /:16 \[gamma\] public_url: environment variable GAMMA_URL is not set\n {4}fix: export GAMMA_URL=/);
  assert.equal(error.exitCode, 2);
});

test('masks that are not ids or digests, and unknown ISVs, are named', () => {
  assert.throws(() => parseConfig('r.cfg', '[redhat]\nmask_layers = abc, sha256:xyz\n', {}), /'abc' is not an image id.*\n.*\n.*'sha256:xyz'/s);
  const config = parseConfig('r.cfg', '[acme]\ns3_bucket = acme-bucket\n', {});
  assert.throws(() => isvConfig(config, 'other'), (e: ConfigError) => /no section \[other\]/.test(e.message) && /acme/.test(e.fix ?? ''));
  assert.throws(() => isvConfig(config, 'bad name'), /not a valid ISV name/);
});

test('[aws] part_size is a whole number of MiB within S3\'s part limits', () => {
  assert.equal(parseConfig('r.cfg', '[aws]\npart_size = 16\n', {}).aws.partSize, 16 * 1024 * 1024);
  for (const bad of ['4', '5121', '8.5', '64MiB']) {
    assert.throws(() => parseConfig('r.cfg', `[aws]\npart_size = ${bad}\n`, {}), new RegExp(`r.cfg:2 \\[aws\\] part_size: '${bad}' is not a whole number from 5 to 5120`));
  }
});

test('values with ; or # must be quoted, as ini reads them as comments otherwise', () => {
  const config = parseConfig('r.cfg', '[openshift]\npassword = "p;ss#word"\n', {});
  assert.equal(config.openshift.password, 'p;ss#word');
});

test('raas.cfg is found in --config, then the current directory, then RAAS_CONF_REPO', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'raas-cfg-'));
  try {
    const env = { RAAS_CONF_REPO: 'git@example.com:ops/raas-config.git' };
    assert.deepEqual(locateConfig({ configDir: undefined, cwd: dir, env, branch: 'stage' }), {
      kind: 'remote', url: env.RAAS_CONF_REPO, branch: 'stage',
    });
    assert.throws(() => locateConfig({ configDir: undefined, cwd: dir, env: {}, branch: 'stage' }), /RAAS_CONF_REPO is not set/);
    assert.throws(() => locateConfig({ configDir: dir, cwd: '/', env, branch: 'stage' }), /no raas.cfg in/);
    await writeFile(path.join(dir, 'raas.cfg'), '');
    assert.deepEqual(locateConfig({ configDir: undefined, cwd: dir, env, branch: 'stage' }), { kind: 'dir', dir });
    assert.deepEqual(locateConfig({ configDir: dir, cwd: '/', env, branch: 'stage' }), { kind: 'dir', dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('[<isv>] access and presign_lifetime: public and 20 minutes by default; private needs S3', () => {
  const base = '[acme]\ns3_bucket = acme-bucket\n';
  const plain = isvConfig(parseConfig('r.cfg', base, {}), 'acme');
  assert.deepEqual([plain.access, plain.presignSeconds], ['public', 20 * 60]);
  const tuned = isvConfig(parseConfig('r.cfg', `${base}access = private\npresign_lifetime = 90\n`, {}), 'acme');
  assert.deepEqual([tuned.access, tuned.presignSeconds], ['private', 90 * 60]);
  assert.throws(() => parseConfig('r.cfg', `${base}access = secret\n`, {}), /r.cfg:3 \[acme\] access: 'secret' is not one of public, private/);
  assert.throws(() => parseConfig('r.cfg', `${base}presign_lifetime = 10081\n`, {}), /presign_lifetime: '10081' is not a whole number from 1 to 10080/);
  assert.throws(() => parseConfig('r.cfg', '[acme]\nstorage = file\nstorage_dir = /srv\naccess = private\n', {}), /\[acme\] access: access = private needs storage = s3/);
});

test('sections and keys given twice are refused with the file and line of both, as ConfigParser strict mode does', () => {
  const text = '[aws]\nregion = a\nRegion = b\n\n[acme]\ns3_bucket = x\n\n[aws]\nprefix = p\n';
  const error = thrown(() => parseConfig('r.cfg', text, {})) as ConfigError;
  assert.ok(error instanceof ConfigError);
  assert.match(error.message, /r\.cfg:3: key Region in \[aws\] is given again \(first at r\.cfg:2\)/);
  assert.match(error.message, /r\.cfg:8: section \[aws\] is given again \(first at r\.cfg:1\)/);
  assert.match(thrown(() => parseConfig('r.cfg', '[acme]\ns3_bucket = x\n[ACME]\ns3_bucket = y\n', {})) as Error + '', /r\.cfg:3: section \[ACME\] is given again \(first at r\.cfg:1\)/);
});

test('[aws] prefix is a key prefix: no segment leaves the bucket or breaks key rules', () => {
  assert.equal(parseConfig('r.cfg', '[aws]\nprefix = team/registries/\n', {}).aws.prefix, 'team/registries/');
  for (const bad of ['../other', 'a/../b', '/abs', 'a//b', 'a\\b', './x', 'x/.', 'x/.hidden']) {
    assert.throws(() => parseConfig('r.cfg', `[aws]\nprefix = ${bad}\n`, {}), /r\.cfg:2 \[aws\] prefix: '.*' is not valid: keys are relative/, bad);
  }
});

test('crane_data_dir never is or holds git\'s own directory, in any case or spelling', () => {
  for (const bad of ['.git', '.GIT/data', 'crane/.Git', 'crane/.git./data', 'GIT~1/x', '../data', '/abs', 'crane//data', 'crane/./data']) {
    assert.throws(() => parseConfig('r.cfg', `[acme]\ns3_bucket = bucket\ncrane_data_dir = ${bad}\n`, {}), /r\.cfg:3 \[acme\] crane_data_dir: '.*' is not valid/, bad);
  }
  assert.equal(isvConfig(parseConfig('r.cfg', '[acme]\ns3_bucket = bucket\ncrane_data_dir = meta/.gitkeep-not/data/\n', {}), 'acme').craneDataDir, 'meta/.gitkeep-not/data/');
});

test('a secret too short to be masked is refused; every query value of a URL is masked, names kept', () => {
  const error = thrown(() => parseConfig('r.cfg', '[openshift]\npassword = ab1\n', {})) as Error;
  assert.match(error.message, /r\.cfg:2 \[openshift\] password: the value is shorter than 4 characters/);
  assert.ok(!error.message.includes('ab1'));
  assert.equal(
    scrub('GET https://acct.blob.core.windows.net/c/x.tar?sv=2024-08-04&se=2031&sr=b&sp=r&sig=abc%2Bdef&flag&empty= done'),
    'GET https://acct.blob.core.windows.net/c/x.tar?sv=***&se=***&sr=***&sp=***&sig=***&***&empty= done',
  );
  assert.equal(scrub('{"msg":"Downloading http://u:p@h/a.tar?token=t1#frag"}'), '{"msg":"Downloading http://***@h/a.tar?token=***"}');
  assert.equal(scrub('see https://example.com/path and s3://bucket/key'), 'see https://example.com/path and s3://bucket/key');
});

test('one typo, one message: a misspelt section is named as such, a non-ini line gets file:line, a misspelt required key is not also missing', () => {
  const problemsOf = (text: string) => {
    const error = thrown(() => parseConfig('/c/raas.cfg', text, {}));
    assert.ok(error instanceof ConfigError);
    assert.equal(error.exitCode, 2);
    return error.message.split('\n').slice(1);
  };
  assert.deepEqual(problemsOf('[awz]\nregion = eu-west-1\n\n[acme]\ns3_buckt = acme-bucket\n'), [
    '  /c/raas.cfg:1 [awz]: not a known section, and probably a misspelling of [aws]: it holds no ISV keys, so it is read neither as [aws] nor as an ISV',
    '    fix: rename it [aws]',
    "  /c/raas.cfg:5 [acme] s3_buckt: unknown key 's3_buckt'",
    '    fix: did you mean s3_bucket?',
  ]);
  assert.deepEqual(problemsOf('[acme]\ns3_bucket = acme-bucket\nthis is not ini\n[pulp\n'), [
    "  /c/raas.cfg:3: 'this is not ini' is not an ini line",
    '    fix: write [section], key = value, or a comment starting with # or ;',
    "  /c/raas.cfg:4: '[pulp' is not an ini line",
    '    fix: write [section], key = value, or a comment starting with # or ;',
  ]);
  const messages = problemsOf('[aws]\nacces_key_id = k\nsecret_access_key = s3cr3t-value\n\n[openshfit]\nusername = u\n\n[acme]\nplatform = git\napp_remot = /srv/crane.git\nregistry_ur = http://r\ns3_bucket = acme-bucket\n')
    .filter((l) => !l.startsWith('    fix:'));
  assert.deepEqual(messages, [
    "  /c/raas.cfg:2 [aws] acces_key_id: unknown key 'acces_key_id'",
    '  /c/raas.cfg:5 [openshfit]: not a known section, and probably a misspelling of [openshift]: it holds no ISV keys, so it is read neither as [openshift] nor as an ISV',
    "  /c/raas.cfg:10 [acme] app_remot: unknown key 'app_remot'",
    "  /c/raas.cfg:11 [acme] registry_ur: unknown key 'registry_ur'",
  ]);
  // An ISV whose name is close to a common section's is still an ISV when it reads like one.
  assert.deepEqual([...parseConfig('r.cfg', '[pulp1]\ns3_bucket = pulp1-bucket\n', {}).isvs.keys()], ['pulp1']);
});
