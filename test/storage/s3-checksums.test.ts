import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { isvConfig, parseConfig } from '../../src/config/load.ts';
import { silentLogger } from '../../src/log.ts';
import { openStore } from '../../src/storage/open.ts';
import { startS3, type S3Server } from '../helpers/s3.ts';

/**
 * `[aws] checksums` decides whether the SDK adds its own request checksums, which several
 * S3-compatible services refuse. What matters is what reaches the wire, so the requests
 * go through a proxy on 127.0.0.1 that records their headers on the way to s3rver.
 */
interface Recorder {
  readonly endpoint: string;
  readonly seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  stop(): Promise<void>;
}

async function recordingProxy(target: string): Promise<Recorder> {
  const upstream = new URL(target);
  const seen: Recorder['seen'] = [];
  const server = http.createServer((request, response) => {
    seen.push({ method: request.method!, url: request.url!, headers: request.headers });
    // Host passes unchanged, so the signature made for the proxy's address verifies upstream.
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(response);
      },
    );
    forward.on('error', () => response.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

const checksumHeaders = (headers: http.IncomingHttpHeaders): string[] =>
  Object.keys(headers).filter((h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm');

describe('[aws] checksums', () => {
  let s3: S3Server;
  let proxy: Recorder;
  before(async () => {
    s3 = await startS3();
    await s3.bucket('checksums');
    proxy = await recordingProxy(s3.endpoint);
  });
  after(async () => {
    await proxy.stop();
    await s3.stop();
  });

  const cases = [
    { line: 'checksums = when_supported', sends: true },
    { line: 'checksums = when_required', sends: false },
    // A custom endpoint without the key: the cautious default.
    { line: '', sends: false },
  ];
  for (const { line, sends } of cases) {
    it(`${line || 'unset, custom endpoint'}: ${sends ? 'sends' : 'sends no'} checksum headers, object stored byte for byte`, async () => {
      const config = parseConfig('/cfg/raas.cfg', [
        '[aws]', `endpoint = ${proxy.endpoint}`, 'force_path_style = true', 'region = us-east-1',
        'access_key_id = S3RVER', 'secret_access_key = S3RVER', line,
        '[acme]', 's3_bucket = checksums', 'platform = git', 'app_remote = /nowhere', 'registry_url = http://127.0.0.1/',
      ].join('\n'), {});
      const store = openStore(isvConfig(config, 'acme'), config.aws, silentLogger());
      const key = `object-${cases.findIndex((c) => c.line === line)}`;
      const body = Buffer.from(`checked ${line}\n`);
      const before = proxy.seen.length;
      try {
        await store.put(key, body, { contentType: 'application/octet-stream' });
      } finally {
        await store.close();
      }
      const puts = proxy.seen.slice(before).filter((r) => r.method === 'PUT' && r.url.includes(key));
      assert.equal(puts.length, 1, 'one PUT of the object went through the proxy');
      const found = checksumHeaders(puts[0]!.headers);
      if (sends) assert.ok(found.length > 0, 'checksum headers were sent');
      else assert.deepEqual(found, [], 'no checksum header was sent');
      const stored = await s3.client.send(new GetObjectCommand({ Bucket: 'checksums', Key: key }));
      assert.deepEqual(Buffer.from(await stored.Body!.transformToByteArray()), body);
    });
  }

  it('refuses a value that is neither mode, with file, line, section and key', () => {
    assert.throws(
      () => parseConfig('/cfg/raas.cfg', '[aws]\nchecksums = crc32\n', {}),
      (error: Error) => /raas\.cfg:2 \[aws\] checksums: 'crc32' is not one of when_supported, when_required/.test(error.message),
    );
  });
});
