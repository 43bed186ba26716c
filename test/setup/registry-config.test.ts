import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isvConfig, parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { registryConfig, registryConfigEnv, registryConfigYaml } from '../../src/setup/registry-config.ts';

const SECRET = 'planted-secret-5521';
const cfg = (isv: string, aws = 'region = eu-west-1') => parseConfig('/etc/raas/raas.cfg', `
[aws]
${aws}
access_key_id = AKIAEXAMPLEKEY
secret_access_key = ${SECRET}

${isv}
`, {});

test('layout = distribution: platform none by default, root_directory normalised; crane with none and distribution with a Crane app are refused', () => {
  const config = cfg('[acme]\ns3_bucket = acme-registry\nlayout = distribution\nroot_directory = /reg/v/');
  const isv = isvConfig(config, 'acme');
  assert.deepEqual(isv.layout, { kind: 'distribution', rootDirectory: 'reg/v/', maskedLayers: 'skip' });
  assert.equal(isv.platform.kind, 'none');
  for (const [section, where] of [
    ['[acme]\ns3_bucket = b-b-b\nplatform = none', /platform/],
    ['[acme]\ns3_bucket = b-b-b\nlayout = distribution\nplatform = git\napp_remote = x\nregistry_url = http://r/', /platform/],
    ['[acme]\ns3_bucket = b-b-b\nlayout = distribution\nroot_directory = a/../b', /root_directory/],
    ['[acme]\ns3_bucket = b-b-b\nroot_directory = reg', /root_directory/],
    ['[acme]\ns3_bucket = b-b-b\nlayout = distribution\nmasked_layers = maybe', /masked_layers/],
  ] as const) {
    assert.throws(() => cfg(section), (error: unknown) => error instanceof ConfigError && where.test(error.message), section);
  }
});

test('registry-config: s3 with a custom endpoint and prefix, as YAML and as environment, never with a secret', () => {
  const config = cfg('[acme]\ns3_bucket = acme-registry\nlayout = distribution\nroot_directory = reg', 'region = eu-west-1\nendpoint = http://127.0.0.1:9000\nforce_path_style = true\nprefix = tenants/acme');
  const built = registryConfig(isvConfig(config, 'acme'), config.aws, { listen: ':5000' });
  const yaml = registryConfigYaml(built);
  const env = registryConfigEnv(built);
  for (const text of [yaml, env]) {
    assert.doesNotMatch(text, new RegExp(`${SECRET}|AKIAEXAMPLEKEY`), 'a credential was written out');
  }
  assert.match(yaml, /^storage:\n  s3:\n    bucket: acme-registry\n    region: eu-west-1\n    regionendpoint: http:\/\/127\.0\.0\.1:9000\n    secure: false\n    rootdirectory: \/tenants\/acme\/reg\n/m);
  assert.match(yaml, /^  maintenance:\n    readonly:\n      enabled: true\n/m);
  assert.match(env, /^REGISTRY_STORAGE_S3_ROOTDIRECTORY=\/tenants\/acme\/reg$/m);
  assert.match(env, /^REGISTRY_STORAGE_MAINTENANCE_READONLY='\{enabled: true\}'$/m);
  assert.match(env, /^REGISTRY_HTTP_ADDR=:5000$/m);
});

test('registry-config: AWS S3 without an endpoint names no regionendpoint; a file store gets the filesystem driver; a crane ISV is refused', () => {
  const aws = cfg('[acme]\ns3_bucket = acme-registry\nlayout = distribution');
  const yaml = registryConfigYaml(registryConfig(isvConfig(aws, 'acme'), aws.aws, { listen: ':5000' }));
  assert.doesNotMatch(yaml, /regionendpoint|rootdirectory/);
  const file = cfg('[acme]\nstorage = file\nstorage_dir = /srv/acme\nlayout = distribution\nroot_directory = reg');
  assert.match(registryConfigYaml(registryConfig(isvConfig(file, 'acme'), file.aws, { listen: ':5000' })), /^  filesystem:\n    rootdirectory: \/srv\/acme\/reg\/?\n/m);
  const crane = cfg('[acme]\ns3_bucket = acme-registry');
  assert.throws(() => registryConfig(isvConfig(crane, 'acme'), crane.aws, { listen: ':5000' }), (e: unknown) => e instanceof ConfigError && /layout = distribution/.test(e.fix ?? ''));
});
