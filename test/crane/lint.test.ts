import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lintRedirectFiles, type LintProblem } from '../../src/crane/lint.ts';
import { buildV1Redirect, buildV3Redirect, serializeRedirect } from '../../src/crane/redirect.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

const v1 = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'pulp-docker-redirect', version: 1, repository: 'acme-app', 'repo-registry-id': 'acme/app',
    url: 'https://cdn.example.com/acme/app/', protected: false, images: [{ id: A }, { id: B }], tags: { latest: B },
    ...overrides,
  });

const lintOne = (text: string, path = 'acme-app.json') => lintRedirectFiles([{ path, text }]);
const messages = (problems: LintProblem[]) => problems.map((p) => `${p.severity}: ${p.message}`).join('\n');

describe('lintRedirectFiles', () => {
  it('accepts what buildV1Redirect writes, and Pulp-style v2-v4 files', () => {
    const built = serializeRedirect(buildV1Redirect({ repository: 'r', registryId: 'acme/app', url: 'https://x.example/r/', imageIds: [A], tags: { latest: A } }));
    const v4 = JSON.stringify({
      type: 'pulp-docker-redirect', version: 4, repository: 'r', 'repo-registry-id': 'acme/app', url: 'https://x.example/v2/r/',
      protected: false, schema2_data: ['latest'], manifest_list_data: [], manifest_list_amd64_tags: { latest: ['sha256:' + A, 2] },
    });
    // The same name in v1 and v2 tables is what Pulp publishes for one repository.
    assert.deepEqual(lintRedirectFiles([{ path: 'v1/r.json', text: built }, { path: 'v2/r.json', text: v4 }]), []);
  });

  it('accepts what buildV3Redirect writes and warns about schema2_data entries no request can name', () => {
    const built = serializeRedirect(buildV3Redirect({ repository: 'acme-app', registryId: 'acme/app', url: 'https://x.example/acme-app/v2/', schema2: ['1.0', `sha256:${A}`] }));
    assert.deepEqual(lintOne(built, 'acme-app@v2.json'), []);
    const text = JSON.stringify({ ...JSON.parse(built), schema2_data: ['1.0', 'sha256:abc', 'no/slashes'] });
    const problems = lintOne(text);
    assert.deepEqual(problems.map((p) => p.severity), ['warning'], messages(problems));
    assert.match(problems[0]!.message, /schema2_data lists 'sha256:abc', 'no\/slashes', neither a tag nor a sha256 digest/);
  });

  it('accepts v2 names containing "blobs", "manifests" or "tags" (Crane 3.3 splits request paths on whole segments)', () => {
    const v3 = (id: string) => JSON.stringify({ type: 'pulp-docker-redirect', version: 3, repository: 'r', 'repo-registry-id': id, url: 'https://x.example/v2/', protected: false, schema2_data: [] });
    assert.deepEqual(lintOne(v3('acme/blobstore')), []);
    assert.deepEqual(lintOne(v3('blobs/manifests')), []);
    assert.deepEqual(lintOne(v3('acme/hashtags')), []);
  });

  const cases: [string, string, RegExp][] = [
    ['invalid JSON', '{"version": 1,', /not valid JSON/],
    ['not an object', '[1]', /not a JSON object/],
    ['unsupported version', v1({ version: 5 }), /version 5 is not supported/],
    ['string version', v1({ version: '1' }), /version "1" is not supported/],
    ['missing images', v1({ images: undefined }), /images is missing/],
    ['missing tags', v1({ tags: undefined }), /tags is missing/],
    ['missing repo-registry-id', v1({ 'repo-registry-id': undefined }), /repo-registry-id is missing/],
    ['missing repository', v1({ repository: undefined }), /repository \(the Pulp repository id\) is missing: Crane skips the file/],
    ['two slashes in the name', v1({ 'repo-registry-id': 'a/b/c' }), /more than one "\/"/],
    ['library/ prefix', v1({ 'repo-registry-id': 'library/app' }), /starts with "library\/"/],
    ['image without id', v1({ images: [{ ID: A }] }), /images\[0\] has no string "id"/],
    ['short image id', v1({ images: [{ id: 'abc123' }], tags: {} }), /'abc123' is not 64 lowercase hex/],
    ['upper-case image id', v1({ images: [{ id: A.toUpperCase() }], tags: {} }), /is not 64 lowercase hex/],
    ['tag to an unlisted image', v1({ tags: { latest: C } }), /tag 'latest' points to c{64}, which is not in images/],
    ['missing url', v1({ url: undefined }), /url is missing/],
    ['relative url', v1({ url: '/pulp/docker/app/' }), /not an absolute http\(s\) URL/],
    ['url without final slash', v1({ url: 'https://cdn.example.com/app' }), /does not end in "\/"/],
    ['string protected', v1({ protected: 'false' }), /protected must be true or false/],
    ['v3 without schema2_data', v1({ version: 3, images: undefined, tags: undefined }), /schema2_data must be a list/],
    ['v4 without manifest list data', v1({ version: 4, schema2_data: [] }), /manifest_list_data must be a list[\s\S]*manifest_list_amd64_tags must map/],
    ['v4 amd64 tag with a schema version Pulp has no directory for', v1({ version: 4, schema2_data: [], manifest_list_data: ['latest'], manifest_list_amd64_tags: { latest: [`sha256:${A}`, 3] } }),
      /tag 'latest' \["sha256:a{64}", 3\]: Crane would redirect to manifests\/3\//],
    ['v4 amd64 tag without a digest', v1({ version: 4, schema2_data: [], manifest_list_data: ['latest'], manifest_list_amd64_tags: { latest: ['latest', 2] } }), /manifests\/2\/latest/],
  ];
  for (const [name, text, expected] of cases) {
    it(`finds ${name}`, () => {
      const problems = lintOne(text);
      assert.match(messages(problems), expected);
      assert.ok(problems.some((p) => p.severity === 'error'), messages(problems));
      assert.ok(problems.every((p) => p.file === 'acme-app.json'));
    });
  }

  it('warns about a field Crane ignores but Pulp writes, protected repositories and non-json files', () => {
    assert.match(messages(lintOne(v1({ type: undefined }))), /warning: type is undefined/);
    assert.match(messages(lintOne(v1({ protected: true }))), /warning: protected: Crane serves/);
    assert.match(messages(lintOne(v1(), 'acme-app.json.bak')), /warning: Crane reads only \*\.json/);
  });

  it('finds two files claiming one repo-registry-id', () => {
    const problems = lintRedirectFiles([{ path: 'a.json', text: v1() }, { path: 'b.json', text: v1({ url: 'https://other.example/' }) }]);
    assert.equal(problems.length, 2, messages(problems));
    assert.deepEqual(problems.map((p) => [p.file, p.severity]), [['b.json', 'error'], ['b.json', 'warning']]);
    assert.match(problems[0]!.message, /'acme\/app' is also claimed by a\.json/);
    assert.match(problems[1]!.message, /2 image\(s\) are also listed by a\.json under another url/);
  });

  it('accepts a base image listed by the ISV file and the base file under the same url', () => {
    const base = v1({ 'repo-registry-id': 'rhel7', url: 'https://cdn.redhat.example/rhel7/', images: [{ id: A }], tags: { latest: A } });
    const isv = v1({ url: 'https://cdn.redhat.example/rhel7/', images: [{ id: A }], tags: {} });
    assert.deepEqual(lintRedirectFiles([{ path: 'rhel7.json', text: base }, { path: 'acme-app.json', text: isv }]), []);
  });
});
