import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lintRedirectFiles } from '../../src/crane/lint.ts';
import { parseRedirect, type RedirectParse, type RedirectProblem } from '../../src/crane/parse.ts';
import { buildV1Redirect, buildV3Redirect, serializeRedirect } from '../../src/crane/redirect.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const DIGEST = `sha256:${A}`;

const common = { type: 'pulp-docker-redirect', repository: 'acme-app', 'repo-registry-id': 'acme/app', url: 'https://cdn.example/acme-app/', protected: false };
const file = (version: number, fields: Record<string, unknown> = {}): string => {
  const extra: Record<number, Record<string, unknown>> = {
    1: { images: [{ id: A }, { id: B }], tags: { latest: B } },
    3: { schema2_data: ['latest', DIGEST] },
    4: { schema2_data: ['1.0'], manifest_list_data: ['latest'], manifest_list_amd64_tags: { latest: [DIGEST, 2] } },
  };
  return JSON.stringify({ ...common, version, ...extra[version], ...fields });
};

const shown = (parse: RedirectParse): string => parse.problems.map((p) => `${p.severity} ${p.key ?? '-'}: ${p.message}`).join('\n');
const only = (parse: RedirectParse, severity: RedirectProblem['severity']) => parse.problems.filter((p) => p.severity === severity);

describe('parseRedirect', () => {
  it('reads version 1 as Crane serves it: images and tags verbatim, the v1 ids once each', () => {
    const parse = parseRedirect(file(1, { images: [{ id: A, extra: true }, { id: B }, { id: A }] }));
    assert.equal(parse.kind, 'redirect');
    assert.ok(parse.loaded, shown(parse));
    assert.deepEqual(parse.loaded, {
      repository: 'acme-app', registryId: 'acme/app', url: 'https://cdn.example/acme-app/', protected: false, version: 1,
      images: [{ id: A, extra: true }, { id: B }, { id: A }], imageIds: [A, B], tags: { latest: B },
    });
    assert.deepEqual(parse.problems, [{ severity: 'warning', message: `image ${A} is listed twice`, key: 'images', entry: 2 }]);
  });

  it('reads versions 2, 3 and 4 with the fields each adds', () => {
    const v2 = parseRedirect(file(2));
    assert.deepEqual([v2.problems, v2.loaded?.version], [[], 2]);
    const v3 = parseRedirect(file(3, { protected: true }));
    assert.deepEqual(v3.loaded, { ...v3.loaded, version: 3, protected: true, schema2Data: ['latest', DIGEST] });
    assert.deepEqual(v3.problems.map((p) => [p.severity, p.key]), [['warning', 'protected']]);
    const v4 = parseRedirect(file(4));
    assert.ok(v4.loaded?.version === 4, shown(v4));
    assert.deepEqual([v4.loaded.schema2Data, v4.loaded.manifestListData, v4.loaded.manifestListAmd64Tags], [['1.0'], ['latest'], { latest: [DIGEST, 2] }]);
    assert.deepEqual(v4.problems, []);
  });

  it('reads what buildV1Redirect and buildV3Redirect write without a problem', () => {
    const v1 = serializeRedirect(buildV1Redirect({ repository: 'r', registryId: 'acme/app', url: 'https://x.example/r/', imageIds: [A], tags: { latest: A } }));
    const v3 = serializeRedirect(buildV3Redirect({ repository: 'r', registryId: 'acme/app', url: 'https://x.example/r/v2/', schema2: ['1.0', DIGEST] }));
    for (const text of [v1, v3]) assert.deepEqual(parseRedirect(text).problems, []);
  });

  it('tells text that is not a redirect file apart: not JSON, not an object, an unsupported version', () => {
    const json = parseRedirect('{"version": 1,');
    assert.equal(json.kind, 'invalid-json');
    assert.match(json.skipped, /^not valid JSON: /);
    assert.deepEqual([parseRedirect('[1]').kind, parseRedirect('[1]').skipped], ['not-object', 'not a JSON object']);
    for (const version of [0, 5, 1.5, '1', null, true]) {
      const parse = parseRedirect(file(1, { version }));
      assert.ok(parse.kind === 'unsupported-version', String(version));
      assert.equal(parse.version, version);
      assert.deepEqual(parse.problems, [{ severity: 'skip', key: 'version', message: `version ${JSON.stringify(version)} is not supported: Crane reads versions 1 to 4` }]);
    }
  });

  // What makes Crane 3.3's loader (crane/data.py) fail on the file, and the reason raas serve logs.
  const skips: [string, string, string, string][] = [
    ['no repository', file(3, { repository: undefined }), 'repository', '"repository" is missing'],
    ['a numeric repo-registry-id', file(2, { 'repo-registry-id': 7 }), 'repo-registry-id', '"repo-registry-id" is malformed'],
    ['no url', file(1, { url: undefined }), 'url', '"url" is missing'],
    ['no images', file(1, { images: undefined }), 'images', '"images" is missing'],
    ['images that is an object', file(1, { images: { id: A } }), 'images', '"images" is malformed'],
    ['an image without "id"', file(1, { images: [{ ID: A }], tags: {} }), 'images', 'an entry of "images" has no "id"'],
    ['an image that is a string', file(1, { images: [A], tags: {} }), 'images', 'an entry of "images" has no "id"'],
    ['tags that is a list', file(1, { tags: [] }), 'tags', '"tags" is malformed'],
    ['v3 without schema2_data', file(3, { schema2_data: undefined }), 'schema2_data', '"schema2_data" is missing'],
    ['v4 with a string manifest_list_data', file(4, { manifest_list_data: 'latest' }), 'manifest_list_data', '"manifest_list_data" is malformed'],
    ['v4 without manifest_list_amd64_tags', file(4, { manifest_list_amd64_tags: undefined }), 'manifest_list_amd64_tags', '"manifest_list_amd64_tags" is missing'],
  ];
  for (const [name, text, key, reason] of skips) {
    it(`skips a file with ${name}, as Crane does`, () => {
      const parse = parseRedirect(text);
      assert.ok(parse.kind === 'redirect', shown(parse));
      assert.equal(parse.loaded, undefined);
      assert.equal(parse.skipped, reason);
      assert.deepEqual(only(parse, 'skip').map((p) => p.key), [key], shown(parse));
    });
  }

  it('logs the key Crane reads first when several are missing, and still reads the rest', () => {
    const parse = parseRedirect(file(1, { repository: undefined, url: undefined, tags: undefined }));
    assert.equal(parse.skipped, '"url" is missing');
    assert.deepEqual(only(parse, 'skip').map((p) => p.key), ['repository', 'url', 'tags']);
    assert.ok(parse.kind === 'redirect' && parse.redirect.version === 1);
    assert.deepEqual([parse.redirect.registryId, parse.redirect.imageIds], ['acme/app', [A, B]]);
  });

  // Crane loads these files, but cannot serve them as meant.
  const errors: [string, string, string, RegExp, (number | string)?][] = [
    ['an empty repository', file(2, { repository: '' }), 'repository', /repository \(the Pulp repository id\) is missing/],
    ['two "/" in a v1 name', file(1, { 'repo-registry-id': 'a/b/c' }), 'repo-registry-id', /more than one "\/"/],
    ['a library/ v1 name', file(1, { 'repo-registry-id': 'library/app' }), 'repo-registry-id', /starts with "library\/"/],
    ['a relative url', file(3, { url: '/pulp/app/' }), 'url', /not an absolute http\(s\) URL/],
    ['a url without its final "/"', file(3, { url: 'https://x.example/app' }), 'url', /does not end in "\/"/],
    ['protected as a string', file(2, { protected: 'false' }), 'protected', /protected must be true or false, not "false"/],
    ['a numeric image id', file(1, { images: [{ id: 7 }], tags: {} }), 'images', /images\[0\] has no string "id"/, 0],
    ['an image id that is a path', file(1, { images: [{ id: '../x' }], tags: {} }), 'images', /image id '\.\.\/x' is not 64 lowercase hex/, 0],
    ['a tag to an unlisted image', file(1, { tags: { old: 'c'.repeat(64) } }), 'tags', /tag 'old' points to c{64}, which is not in images/, 'old'],
    ['a tag to a number', file(1, { tags: { old: 1 } }), 'tags', /tag 'old' does not name an image id/, 'old'],
    ['schema2_data with a number', file(3, { schema2_data: ['1.0', 2] }), 'schema2_data', /schema2_data must be a list of tags and digests/],
    ['amd64 tags that are not pairs', file(4, { manifest_list_amd64_tags: { latest: DIGEST } }), 'manifest_list_amd64_tags', /must map tags to \[digest, schema version\]/],
    ['an amd64 schema version Pulp has no directory for', file(4, { manifest_list_amd64_tags: { latest: [DIGEST, 3] } }), 'manifest_list_amd64_tags', /manifests\/3\//, 'latest'],
  ];
  for (const [name, text, key, message, entry] of errors) {
    it(`loads a file with ${name}, reporting an error`, () => {
      const parse = parseRedirect(text);
      assert.ok(parse.loaded, shown(parse));
      const found = only(parse, 'error');
      assert.equal(found.length, 1, shown(parse));
      assert.equal(found[0]!.key, key);
      assert.match(found[0]!.message, message);
      assert.equal(found[0]!.entry, entry);
    });
  }

  it('warns about what Crane serves but no request can reach, a protected file and another type', () => {
    const parse = parseRedirect(file(4, { type: 'other', protected: true, schema2_data: ['a/b'], manifest_list_data: ['sha256:abc'] }));
    assert.ok(parse.loaded, shown(parse));
    assert.deepEqual(parse.problems.map((p) => [p.severity, p.key]), [['warning', 'type'], ['warning', 'protected'], ['warning', 'schema2_data'], ['warning', 'manifest_list_data']]);
    assert.match(parse.problems[2]!.message, /schema2_data lists 'a\/b', neither a tag nor a sha256 digest: no request can match it/);
  });

  it('agrees with lint: every problem of a file, in order, with skips as errors', () => {
    const texts = [
      ...skips.map(([, text]) => text), ...errors.map(([, text]) => text),
      '{', '"x"', file(7), file(1), file(3), file(4, { type: undefined, protected: true, manifest_list_data: ['a b'] }),
      file(1, { repository: undefined, 'repo-registry-id': 'library/x', url: 'ftp://x', protected: 1, images: [{ id: A }, { id: A }, {}], tags: { t: 'z' } }),
    ];
    for (const text of texts) {
      const parse = parseRedirect(text);
      const expected = parse.problems.map((p) => ({ file: 'f.json', severity: p.severity === 'warning' ? 'warning' : 'error', message: p.message }));
      assert.deepEqual(lintRedirectFiles([{ path: 'f.json', text }]), expected, text);
    }
  });
});
