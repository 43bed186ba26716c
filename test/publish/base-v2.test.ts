import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ConfigError, OperationError } from '../../src/errors.ts';
import { hostedBlobs, MAX_BASE_FETCHES } from '../../src/publish/base-v2.ts';
import { randomLayer } from '../helpers/archives.ts';
import { startV2BaseParty } from '../helpers/base-party.ts';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const file = (text: string) => ({ name: 'rhel8@v2.json', text, origin: 'redhat/metadata/rhel8@v2.json' });
const timeouts = { connectMs: 2000, stallMs: 2000 };

describe('the base party\'s v2 metadata', () => {
  for (const list of [false, true]) {
    it(`gives each layer of the images a version ${list ? 4 : 3} file names, with its digest, diff_id and blob URL${list ? ', through a manifest list' : ''}`, async (t) => {
      const tars = [randomLayer().tar, randomLayer().tar];
      const party = await startV2BaseParty(t, { tars, list });
      const blobs = await hostedBlobs([file(party.metadata)], { timeouts });
      assert.deepEqual(blobs, party.layers.map((l, i) => ({ url: `${party.url}blobs/${l.digest}`, digest: l.digest, size: l.size, diffId: sha256(tars[i]!), compression: 'gzip' })));
      // The config is fetched once, though a tag and a digest name its manifest; no layer is fetched.
      assert.equal(party.requests.filter((r) => r.includes('/blobs/')).length, 1);
      assert.equal(party.requests.length, list ? 4 : 3);
    });
  }

  it('learns nothing from version 1 and 2 files, and fetches nothing for them', async (t) => {
    const party = await startV2BaseParty(t, { tars: [randomLayer().tar] });
    const v2 = JSON.stringify({ ...JSON.parse(party.metadata), version: 2, schema2_data: undefined });
    assert.deepEqual(await hostedBlobs([file(v2)], { timeouts }), []);
    assert.deepEqual(party.requests, []);
  });

  it('refuses a manifest that is not the digest it was fetched by, naming the file and the URL', async (t) => {
    const party = await startV2BaseParty(t, { tars: [randomLayer().tar] });
    const path = `/rhel8/manifests/2/${party.manifest}`;
    party.files.set(path, Buffer.from(party.files.get(path)!.toString().replace('"schemaVersion":2', '"schemaVersion": 2')));
    await assert.rejects(hostedBlobs([file(party.metadata)], { timeouts }), (err: unknown) =>
      err instanceof ConfigError && err.where === 'base-image metadata redhat/metadata/rhel8@v2.json ([redhat] metadata)'
      && err.message.startsWith(`${party.url}manifests/2/${party.manifest} is not ${party.manifest}: it was fetched by that digest, but its bytes hash to sha256:`));
  });

  it('refuses a config that is not the digest its manifest names', async (t) => {
    const party = await startV2BaseParty(t, { tars: [randomLayer().tar] });
    const configPath = [...party.files.keys()].find((p) => p.includes('/blobs/') && !party.layers.some((l) => l.path === p))!;
    party.files.set(configPath, gzipSync('not the config'));
    await assert.rejects(hostedBlobs([file(party.metadata)], { timeouts }), /blobs\/sha256:[0-9a-f]{64} is not sha256:/);
  });

  it('refuses a manifest whose config gives another number of diff_ids, and fails when a listed manifest is not there', async (t) => {
    const party = await startV2BaseParty(t, { tars: [randomLayer().tar] });
    // Fetched by tag, the manifest is not checked against a digest, but must agree with its config.
    const manifest = JSON.parse(party.files.get('/rhel8/manifests/2/latest')!.toString());
    manifest.layers.push(manifest.layers[0]);
    party.files.set('/rhel8/manifests/2/latest', Buffer.from(JSON.stringify(manifest)));
    await assert.rejects(hostedBlobs([file(party.metadata)], { timeouts }), /blobs\/sha256:[0-9a-f]{64} lists 1 diff_ids for a manifest of 2 layers/);
    party.files.delete('/rhel8/manifests/2/latest');
    await assert.rejects(hostedBlobs([file(party.metadata)], { timeouts }), (err: unknown) =>
      err instanceof OperationError && /Pulp v2 layout/.test(err.fix!) && err.message === `cannot download manifest of base-image metadata redhat/metadata/rhel8@v2.json: ${party.url}manifests/2/latest: HTTP 404 Not Found`);
  });

  it(`fetches at most ${MAX_BASE_FETCHES} documents, and says which file asked for more`, async (t) => {
    const party = await startV2BaseParty(t, { tars: [randomLayer().tar] });
    const metadata = JSON.parse(party.metadata);
    const tag = (i: number) => `t${i}`;
    for (let i = 0; i < MAX_BASE_FETCHES; i++) party.files.set(`/rhel8/manifests/2/${tag(i)}`, party.files.get(`/rhel8/manifests/2/latest`)!);
    metadata.schema2_data = Array.from({ length: MAX_BASE_FETCHES }, (_, i) => tag(i));
    await assert.rejects(hostedBlobs([file(JSON.stringify(metadata))], { timeouts }), (err: unknown) =>
      err instanceof ConfigError && err.message.includes(`needs more than ${MAX_BASE_FETCHES} manifests and configs fetched`) && err.where!.includes('rhel8@v2.json'));
    assert.ok(party.requests.length <= MAX_BASE_FETCHES, `${party.requests.length} requests`);
  });

  it('refuses a layer two files describe differently', async (t) => {
    const tars = [randomLayer().tar];
    const one = await startV2BaseParty(t, { tars, repository: 'one' });
    const other = await startV2BaseParty(t, { tars: [randomLayer().tar], repository: 'other' });
    // The other party serves the first one's layer digest with another diff_id.
    const manifest = JSON.parse(other.files.get(`/other/manifests/2/latest`)!.toString());
    manifest.layers[0].digest = one.layers[0]!.digest;
    const bytes = Buffer.from(JSON.stringify(manifest));
    other.files.set('/other/manifests/2/latest', bytes);
    const otherFile = { name: 'other.json', origin: 'other.json', text: JSON.stringify({ ...JSON.parse(other.metadata), schema2_data: ['latest'] }) };
    await assert.rejects(hostedBlobs([file(one.metadata), otherFile], { timeouts }), /is described as .* here, but as .* in redhat\/metadata\/rhel8@v2\.json/);
  });
});
