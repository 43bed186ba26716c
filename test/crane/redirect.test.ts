import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { buildV1Redirect, buildV3Redirect, serializeRedirect } from '../../src/crane/redirect.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('buildV1Redirect', () => {
  it('builds the version 1 file Pulp writes, with a trailing "/" on the url', () => {
    const redirect = buildV1Redirect({
      repository: 'acme-app', registryId: 'acme/app', url: 'https://bucket.example.com/app',
      imageIds: [A, B, A], tags: new Map([['latest', B], ['1.0', A]]),
    });
    assert.deepEqual(redirect, {
      type: 'pulp-docker-redirect', version: 1, repository: 'acme-app', 'repo-registry-id': 'acme/app',
      url: 'https://bucket.example.com/app/', protected: false,
      images: [{ id: A }, { id: B }], tags: { latest: B, '1.0': A },
    });
  });

  it('refuses ids that are not 64 hex and tags that point outside the images', () => {
    const base = { repository: 'r', registryId: 'r', url: 'https://x/' };
    assert.throws(() => buildV1Redirect({ ...base, imageIds: ['abc'], tags: {} }), InputError);
    assert.throws(() => buildV1Redirect({ ...base, imageIds: [A], tags: { latest: B } }), /not one of the images/);
  });
});

describe('serializeRedirect', () => {
  it('is pretty, ends in a newline, and does not depend on key order', () => {
    const one = buildV1Redirect({ repository: 'r', registryId: 'r', url: 'https://x/', imageIds: [A, B], tags: { z: A, a: B } });
    const shuffled = { tags: { a: B, z: A }, images: one.images, protected: false, url: one.url, 'repo-registry-id': 'r', repository: 'r', version: 1, type: one.type };
    const text = serializeRedirect(one);
    assert.equal(text, serializeRedirect(shuffled));
    assert.ok(text.endsWith('}\n'));
    assert.deepEqual(Object.keys(JSON.parse(text)), ['type', 'version', 'repository', 'repo-registry-id', 'url', 'protected', 'images', 'tags']);
    assert.deepEqual(Object.keys(JSON.parse(text).tags), ['a', 'z']);
    assert.match(text, /\n  "version": 1,\n/);
  });
});

describe('buildV3Redirect', () => {
  it('builds the version 3 file Crane routes schema 2 manifests by, refs sorted and unique', () => {
    const digest = `sha256:${A}`;
    assert.deepEqual(buildV3Redirect({ repository: 'acme-app', registryId: 'acme/app', url: 'https://s/acme-app/v2', schema2: ['latest', digest, '1.0', 'latest'] }), {
      type: 'pulp-docker-redirect', version: 3, repository: 'acme-app', 'repo-registry-id': 'acme/app',
      url: 'https://s/acme-app/v2/', protected: false, schema2_data: ['1.0', 'latest', digest],
    });
  });

  it('refuses what is neither a tag nor a digest, and serializes in Pulp\'s field order', () => {
    const base = { repository: 'r', registryId: 'r', url: 'https://x/' };
    assert.throws(() => buildV3Redirect({ ...base, schema2: ['a/b'] }), InputError);
    assert.throws(() => buildV3Redirect({ ...base, schema2: ['sha256:abc'] }), InputError);
    const text = serializeRedirect(buildV3Redirect({ ...base, schema2: ['x'] }));
    assert.deepEqual(Object.keys(JSON.parse(text)), ['type', 'version', 'repository', 'repo-registry-id', 'url', 'protected', 'schema2_data']);
  });
});
