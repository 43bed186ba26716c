import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Digest } from '../../src/image/model.ts';
import { chainIds, deriveV1Images } from '../../src/image/v1id.ts';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const d = (text: string): Digest => `sha256:${sha(text)}`;

// container_config of a layer docker <= 24 saved below the top, as `docker save` wrote it.
const ZERO =
  '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';

describe('v1 id derivation', () => {
  const diffIds = [d('layer one'), d('layer two')];

  it('computes chain ids as docker does', () => {
    assert.deepEqual(chainIds(diffIds), [diffIds[0], `sha256:${sha(`${diffIds[0]} ${diffIds[1]}`)}`]);
  });

  it('reproduces moby CreateID and the v1 JSON docker save wrote', () => {
    const config = {
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-02T03:04:05.000Z',
      config: {
        Env: ['A=<b>&c'],
        Cmd: null,
        Labels: { z: '1', a: '2' },
        ExposedPorts: { '80/tcp': {} },
        Healthcheck: { Test: ['CMD', 'true'], Interval: 1_000_000_000 },
        StopTimeout: 0,
        Shell: [],
        ArgsEscaped: true,
        NotADockerField: 'dropped',
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: [{ created_by: 'x' }],
      parent: 'ignored',
    };
    const run =
      '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=\\u003cb\\u003e\\u0026c"],"Cmd":[],"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000},"ArgsEscaped":true,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"a":"2","z":"1"},"StopTimeout":0}';
    const chain = chainIds(diffIds)[1];
    const baseId = sha(`{"container_config":${ZERO},"created":"1970-01-01T00:00:00Z","layer_id":"${diffIds[0]}"}`);
    const topId = sha(
      `{"architecture":"amd64","config":${run},"container_config":${ZERO},"created":"2024-01-02T03:04:05Z","layer_id":"${chain}","os":"linux","parent":"sha256:${baseId}"}`,
    );
    const [base, top] = deriveV1Images(config, diffIds);
    assert.equal(base!.id, baseId);
    assert.equal(base!.parent, undefined);
    assert.equal(base!.json.toString(), `{"id":"${baseId}","created":"1970-01-01T00:00:00Z","container_config":${ZERO},"os":"linux"}`);
    assert.equal(top!.id, topId);
    assert.equal(top!.parent, baseId);
    assert.equal(
      top!.json.toString(),
      `{"id":"${topId}","parent":"${baseId}","created":"2024-01-02T03:04:05Z","container_config":${ZERO},"config":${run},"architecture":"amd64","os":"linux"}`,
    );
  });

  it('is deterministic and depends on the whole chain below a layer', () => {
    const config = { os: 'linux', created: '2024-01-01T00:00:00Z', rootfs: {} };
    const [a, b, c] = [d('a'), d('b'), d('c')];
    const one = deriveV1Images(config, [a, b, c]).map((i) => i.id);
    assert.deepEqual(deriveV1Images(config, [a, b, c]).map((i) => i.id), one);

    const otherBase = deriveV1Images(config, [c, b, c]).map((i) => i.id);
    assert.notEqual(otherBase[1], one[1], 'the same layer on another base gets another id');
    assert.notEqual(otherBase[2], one[2]);

    const otherTop = deriveV1Images(config, [a, b, a]).map((i) => i.id);
    assert.deepEqual(otherTop.slice(0, 2), one.slice(0, 2), 'layers below a change keep their ids');

    const sameLayerTwice = deriveV1Images(config, [a, a]).map((i) => i.id);
    assert.notEqual(sameLayerTwice[0], sameLayerTwice[1]);
  });

  it('only the top layer carries the config', () => {
    const ids = (created: string) => deriveV1Images({ created, os: 'linux' }, [d('a'), d('b')]).map((i) => i.id);
    const [base1, top1] = ids('2024-01-01T00:00:00Z');
    const [base2, top2] = ids('2025-01-01T00:00:00Z');
    assert.equal(base1, base2);
    assert.notEqual(top1, top2);
  });

  it('formats times as Go does', () => {
    const created = (value: string) => JSON.parse(deriveV1Images({ created: value }, [d('a')])[0]!.json.toString()).created;
    assert.equal(created('2024-05-01T12:00:00.500000000+00:00'), '2024-05-01T12:00:00.5Z');
    assert.equal(created('2024-05-01T12:00:00.123456789123Z'), '2024-05-01T12:00:00.123456789Z');
    assert.equal(created('2024-05-01T14:00:00+02:00'), '2024-05-01T14:00:00+02:00');
    assert.equal(JSON.parse(deriveV1Images({}, [d('a')])[0]!.json.toString()).created, null);
  });

  it('refuses configs Go could not have decoded', () => {
    assert.throws(() => deriveV1Images({ created: 'yesterday' }, [d('a')]), TypeError);
    assert.throws(() => deriveV1Images({ config: { Env: 'A=1' } }, [d('a')]), /Env is not an array/);
    assert.throws(() => deriveV1Images({ config: { Tty: 'yes' } }, [d('a')]), /Tty is not a boolean/);
  });
});
