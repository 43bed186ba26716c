import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { resolveSection, type SetupFlags } from '../../src/setup/section.ts';
import { tempDir } from '../helpers/git.ts';

const NO_FLAGS: SetupFlags = { bucket: undefined, domain: undefined, app: undefined, noScale: false, gearSize: undefined };

async function configWith(t: import('node:test').TestContext, text: string) {
  const file = path.join(await tempDir(t), 'raas.cfg');
  await writeFile(file, text);
  return parseConfig(file, text, {});
}

describe('resolveSection', () => {
  it('makes a missing section from the flags, with every key written out, and validates it', async (t) => {
    const config = await configWith(t, '[aws]\nregion = eu-west-1');
    const { isv, added } = await resolveSection(config, 'Acme', { ...NO_FLAGS, bucket: 'acme.images', domain: 'acmeinc', gearSize: 'large', noScale: true }, {});
    assert.deepEqual(isv.storage, { kind: 's3', bucket: 'acme.images', publicUrl: undefined });
    assert.deepEqual(isv.platform, { kind: 'openshift', domain: 'acmeinc', app: 'registry', scale: false, gearSize: 'large' });
    assert.equal(added?.text, `[aws]\nregion = eu-west-1\n\n${added?.section}`);
    assert.match(added!.section, /^\[acme\]\nstorage = s3\ns3_bucket = acme.images\nplatform = openshift\nopenshift_domain = acmeinc\nopenshift_app = registry\nopenshift_scale = false\nopenshift_gear_size = large\n$/m);
  });

  it('needs a bucket for a new section, and valid names in every flag', async (t) => {
    const config = await configWith(t, '');
    await assert.rejects(resolveSection(config, 'acme', NO_FLAGS, {}), (e: unknown) => e instanceof ConfigError && /no section \[acme\]/.test(e.message) && /--s3bucket/.test(e.fix ?? ''));
    await assert.rejects(resolveSection(config, 'acme', { ...NO_FLAGS, bucket: 'Bad_Bucket' }, {}), (e: unknown) => e instanceof ConfigError && e.where === '--s3bucket');
    await assert.rejects(resolveSection(config, 'acme', { ...NO_FLAGS, bucket: 'ok-bucket', app: 'no-dashes' }, {}), (e: unknown) => e instanceof ConfigError && e.where === '--ooapp');
    await assert.rejects(resolveSection(config, 'ac-me', NO_FLAGS, {}), (e: unknown) => e instanceof ConfigError && e.where === 'argument <isv>');
  });

  it('keeps an existing section; flags that agree pass, every one that disagrees is named', async (t) => {
    const config = await configWith(t, '[acme]\ns3_bucket = acme-images\nopenshift_gear_size = medium\nopenshift_scale = false');
    const same = await resolveSection(config, 'acme', { ...NO_FLAGS, bucket: 'acme-images', app: 'registry', gearSize: 'medium', noScale: true }, {});
    assert.equal(same.added, undefined);
    assert.equal(same.isv, config.isvs.get('acme'));
    await assert.rejects(
      resolveSection(config, 'acme', { ...NO_FLAGS, bucket: 'other', domain: 'acme', gearSize: 'small' }, {}),
      (e: unknown) => e instanceof ConfigError
        && e.message === 'raas.cfg [acme] says otherwise:\n  --s3bucket other: the section has s3_bucket = acme-images\n  --oogearsize small: the section has openshift_gear_size = medium',
    );
  });
});
