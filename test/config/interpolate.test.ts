import assert from 'node:assert/strict';
import { test } from 'node:test';
import { interpolate } from '../../src/config/interpolate.ts';

const env = { SET: 'value', EMPTY: '', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' };
const value = (text: string) => {
  const result = interpolate(text, env);
  assert.ok(result.ok, `expected a value for ${text}`);
  return result.value;
};

test('references, defaults and literals', () => {
  assert.equal(value('${SET}'), 'value');
  assert.equal(value('a-${SET}-b'), 'a-value-b');
  assert.equal(value('${UNSET:-fallback}'), 'fallback');
  assert.equal(value('${EMPTY:-fallback}'), 'fallback', 'an empty variable takes the default, as :- does in a shell');
  assert.equal(value('${UNSET:-}'), '');
  assert.equal(value('$${SET}'), '${SET}');
  assert.equal(value('${1} ${A-b} $SET'), '${1} ${A-b} $SET', 'what is not a reference is kept');
  assert.equal(value('${UNSET:-never closed'), '${UNSET:-never closed');
});

test('a default may hold references, as the stock registry variables need', () => {
  const key = '${REGISTRY_STORAGE_S3_ACCESSKEY:-${AWS_ACCESS_KEY_ID}}';
  assert.equal(value(key), 'AKIAEXAMPLE');
  assert.deepEqual(interpolate(key, { ...env, REGISTRY_STORAGE_S3_ACCESSKEY: 'AKIAREGISTRY' }), { ok: true, value: 'AKIAREGISTRY' });
  assert.equal(value('${UNSET:-${ALSO_UNSET:-x}-${SET}}'), 'x-value');
  assert.equal(value('${SET:-${UNSET}}'), 'value', 'an unused default may name an unset variable');
});

test('an unset variable without a default is named', () => {
  assert.deepEqual(interpolate('${NOPE}', env), { ok: false, variable: 'NOPE' });
  assert.deepEqual(interpolate('${UNSET:-${NOPE}}', env), { ok: false, variable: 'NOPE' });
  assert.deepEqual(interpolate('${OSS_KEY:-${OSS_KEY2}} ${SET}', env), { ok: false, variable: 'OSS_KEY2' });
});
