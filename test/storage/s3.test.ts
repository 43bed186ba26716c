import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ConfigError, IntegrityError, OperationError, RaasError } from '../../src/errors.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import type { Blob, V1Image } from '../../src/image/model.ts';
import { silentLogger } from '../../src/log.ts';
import { createS3Store, publicReadPolicy, type S3StoreOptions } from '../../src/storage/s3.ts';
import { partSizeFor } from '../../src/storage/s3-put.ts';
import type { Store } from '../../src/storage/store.ts';
import { FAULT_KINDS, startFaultProxy } from '../helpers/fault-proxy.ts';
import { startS3, type S3Server } from '../helpers/s3.ts';
import { bufferBlob, fileBlob, randomFile, sha256 } from './blob.ts';
import { storeContract } from './contract.ts';

const MiB = 1024 * 1024;
const OCTETS = { contentType: 'application/octet-stream' };

async function read(client: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  } catch (err) {
    if ((err as Error).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

async function allKeys(client: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

function options(s3: S3Server, bucket: string, extra: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return {
    bucket,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: s3.credentials,
    acl: 'public-read',
    maxConcurrency: 4,
    logger: silentLogger(),
    ...extra,
  };
}

/** The describe() text of a RaasError the promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<RaasError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RaasError, `expected a RaasError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

let s3: S3Server;
let work: string;
before(async () => {
  s3 = await startS3();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'raas-s3-test-'));
});
after(async () => {
  await s3.stop();
  await fs.rm(work, { recursive: true, force: true });
});

storeContract('s3', async () => {
  const bucket = await s3.bucket('contract');
  const store = createS3Store(options(s3, bucket, { prefix: '/registries/one' }));
  return {
    store,
    read: (key) => read(s3.client, bucket, `registries/one/${key}`),
    everything: () => allKeys(s3.client, bucket),
    close: () => store.close(),
  };
});

describe('s3 store', () => {
  it('pre-signs GET URLs for a private bucket, under its prefix, for the lifetime asked', async () => {
    const bucket = await s3.bucket('presigned');
    const store = createS3Store(options(s3, bucket, { prefix: 'p', access: 'private', acl: 'none' }));
    assert.equal(store.access, 'private');
    await store.put('a/blob', Buffer.from('signed bytes'), OCTETS);
    const url = new URL(await store.presign('a/blob', 1200));
    assert.equal(decodeURIComponent(url.pathname), `/${bucket}/p/a/blob`);
    assert.equal(url.searchParams.get('X-Amz-Expires'), '1200');
    assert.match(url.searchParams.get('X-Amz-Credential')!, /^S3RVER\//);
    assert.equal(await (await fetch(url)).text(), 'signed bytes');
    await store.close();
  });

  it('keeps everything under its key prefix', async () => {
    const bucket = await s3.bucket('prefixed');
    const store = createS3Store(options(s3, bucket, { prefix: 'team/x' }));
    assert.equal(store.location, 's3://prefixed/team/x/');
    await store.put('k', Buffer.from('v'), OCTETS);
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'team/xy', Body: 'outside' }));
    assert.deepEqual(await allKeys(s3.client, bucket), ['team/x/k', 'team/xy']);
    assert.deepEqual([...(await store.list('')).keys()], ['k']);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'team/x/k' }));
    assert.equal(head.Metadata?.['raas-sha256'], sha256(Buffer.from('v')));
    await store.close();
  });

  it('lists more than 1000 keys, page by page', async () => {
    const bucket = await s3.bucket('many');
    const keys = Array.from({ length: 1003 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((Key) => s3.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x' }))));
    }
    const store = createS3Store(options(s3, bucket));
    const listed = await store.list('many/');
    assert.equal(listed.size, keys.length);
    assert.deepEqual(listed.get('many/1002'), { size: 1, etag: '9dd4e461268c8034f5c8564e155c67a6' });
    await store.close();
  });

  for (const requestChecksums of [true, false]) {
    it(`uploads 20 MiB in parallel 5 MiB parts, byte for byte (checksums ${requestChecksums ? 'on' : 'off'})`, async () => {
      const bucket = await s3.bucket(`multipart-${requestChecksums}`);
      const file = path.join(work, `big-${requestChecksums}`);
      const size = 20 * MiB + 123;
      const digest = await randomFile(file, size);
      const store = createS3Store(options(s3, bucket, { partSize: 5 * MiB, requestChecksums }));
      let progress = 0;
      const result = await store.put('big/layer', fileBlob(file, size), { ...OCTETS, onProgress: (n) => (progress += n) });
      assert.deepEqual(result, { size, sha256: digest });
      assert.equal(progress, size);
      const stored = await read(s3.client, bucket, 'big/layer');
      assert.equal(stored?.length, size);
      assert.equal(sha256(stored!), digest);
      assert.deepEqual(await store.stat('big/layer'), { size, sha256: digest });
      await store.close();
    });
  }

  it('sends a layer with the part hashes its caller read, reading each part once and nothing before', async () => {
    const bucket = await s3.bucket('given-parts');
    const data = randomBytes(12 * MiB + 7);
    const store = createS3Store(options(s3, bucket, { partSize: 5 * MiB }));
    const layer = { id: 'a'.repeat(64), layer: bufferBlob(data) } as V1Image;
    const digests = await layerDigester((size) => store.partSize(size))(layer);
    assert.equal(digests.parts.length, 3);
    const reads: [number, number][] = [];
    const blob: Blob = { size: data.length, open: (start = 0, end = data.length) => (reads.push([start, end]), bufferBlob(data).open(start, end)) };
    const result = await store.put('given/layer', blob, { ...OCTETS, sha256: digests.sha256, parts: digests.parts });
    assert.deepEqual(result, { size: data.length, sha256: sha256(data) });
    assert.deepEqual(reads.sort((a, b) => a[0] - b[0]), [[0, 5 * MiB], [5 * MiB, 10 * MiB], [10 * MiB, data.length]]);
    assert.deepEqual(await read(s3.client, bucket, 'given/layer'), data);
    await store.close();
  });

  it('stops sending bytes that differ from the hashes its caller read, whole or in parts, leaving no object', async () => {
    const bucket = await s3.bucket('given-wrong');
    const store = createS3Store(options(s3, bucket, { partSize: 5 * MiB }));
    for (const size of [100_000, 11 * MiB]) {
      const read = randomBytes(size);
      // What the caller hashed, and what the archive holds by the time it is sent: one byte differs, in the last part.
      const sent = Buffer.from(read);
      sent[size - 10]! ^= 0xff;
      const digests = await layerDigester((n) => store.partSize(n))({ id: 'b'.repeat(64), layer: bufferBlob(read) } as V1Image);
      const err = await failure(store.put(`wrong/${size}`, bufferBlob(sent), { ...OCTETS, sha256: digests.sha256, parts: digests.parts }));
      assert.ok(err instanceof IntegrityError, String(err));
      assert.match(err.describe(), new RegExp(`content does not match sha256 ${digests.parts.at(-1)}: read ${sha256(sent.subarray((digests.parts.length - 1) * 5 * MiB))}; nothing was stored`));
      assert.equal(await store.stat(`wrong/${size}`), undefined);
    }
    assert.deepEqual(await allKeys(s3.client, bucket), []);
    await store.close();
  });

  it('aborts a multipart upload whose bytes do not match, leaving no object', async () => {
    const bucket = await s3.bucket('multipart-bad');
    const file = path.join(work, 'bad');
    const size = 11 * MiB;
    await randomFile(file, size);
    const store = createS3Store(options(s3, bucket, { partSize: 5 * MiB }));
    const err = await failure(store.put('bad/layer', fileBlob(file, size), { ...OCTETS, sha256: 'f'.repeat(64) }));
    assert.ok(err instanceof IntegrityError);
    assert.match(err.describe(), /s3:\/\/multipart-bad\/bad\/layer/);
    assert.equal(await store.stat('bad/layer'), undefined);
    assert.deepEqual(await allKeys(s3.client, bucket), []);
    await store.close();
  });

  it('stops a multipart upload when the signal aborts', async () => {
    const bucket = await s3.bucket('multipart-abort');
    const file = path.join(work, 'abort');
    await randomFile(file, 30 * MiB);
    const store = createS3Store(options(s3, bucket, { partSize: 5 * MiB, maxConcurrency: 1 }));
    const controller = new AbortController();
    const putting = store.put('a/layer', fileBlob(file, 30 * MiB), {
      ...OCTETS,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await assert.rejects(putting, { name: 'AbortError' });
    assert.deepEqual(await allKeys(s3.client, bucket), []);
    await store.close();
  });

  it('derives public URLs', () => {
    const url = (extra: Partial<S3StoreOptions>, keyPrefix = 'acme/app/') =>
      createS3Store({ bucket: 'reg', region: 'eu-west-1', acl: 'none', maxConcurrency: 1, logger: silentLogger(), ...extra }).publicUrl(keyPrefix);
    assert.equal(url({}), 'https://reg.s3.eu-west-1.amazonaws.com/acme/app/');
    assert.equal(url({ region: 'us-east-1', prefix: 'p' }), 'https://reg.s3.amazonaws.com/p/acme/app/');
    assert.equal(url({ forcePathStyle: true }), 'https://s3.eu-west-1.amazonaws.com/reg/acme/app/');
    assert.equal(url({ bucket: 'my.reg' }), 'https://s3.eu-west-1.amazonaws.com/my.reg/acme/app/');
    assert.equal(url({ endpoint: 'http://127.0.0.1:9000/', prefix: 'p/' }), 'http://127.0.0.1:9000/reg/p/acme/app/');
    assert.equal(url({ publicUrl: 'https://cdn.example.com/r', prefix: 'ignored' }), 'https://cdn.example.com/r/acme/app/');
    assert.equal(url({}, ''), 'https://reg.s3.eu-west-1.amazonaws.com/');
  });

  it('says when the bucket does not exist', async () => {
    const store = createS3Store(options(s3, 'no-such-bucket'));
    const err = await failure(store.check({ write: false }));
    assert.ok(err instanceof OperationError);
    assert.match(err.describe(), /bucket no-such-bucket does not exist[\s\S]*raas setup --create/);
    assert.equal(await (store as ReturnType<typeof createS3Store>).bucketExists(), false);
    await store.close();
  });

  it('says when the endpoint cannot be reached', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const store = createS3Store(options(s3, 'any', { endpoint: `http://127.0.0.1:${port}` }));
    const err = await failure(store.check({ write: false }));
    assert.match(err.describe(), new RegExp(`cannot reach S3 endpoint http://127.0.0.1:${port} \\(ECONNREFUSED\\)`));
    await store.close();
  });

  it('says which credentials are refused', async () => {
    const bucket = await s3.bucket('forbidden');
    const store = createS3Store(options(s3, bucket, { credentials: { accessKeyId: 'AKIAEXAMPLEWXYZ', secretAccessKey: 'not-the-secret' } }));
    for (const attempt of [() => store.check({ write: false }), () => store.put('k', Buffer.from('x'), OCTETS)]) {
      const err = await failure(attempt());
      assert.match(err.describe(), /forbidden .* for access key …WXYZ/);
      assert.doesNotMatch(err.describe(), /not-the-secret/);
    }
    await store.close();
  });

  it('never has more requests in flight than maxConcurrency, parts and whole objects together', async () => {
    const bucket = await s3.bucket('bounded');
    const file = path.join(work, 'bounded');
    await randomFile(file, 30 * MiB);
    let inFlight = 0;
    let most = 0;
    const agent = new http.Agent({ keepAlive: true });
    const counter = http.createServer((req, res) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      const upstream = http.request(`${s3.endpoint}${req.url}`, { method: req.method, headers: req.headers, agent }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res).on('finish', () => (inFlight -= 1));
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(counter.address() as AddressInfo).port}`;
    const store = createS3Store(options(s3, bucket, { endpoint, partSize: 5 * MiB, maxConcurrency: 3 }));
    try {
      await Promise.all([
        store.put('b/big', fileBlob(file, 30 * MiB), OCTETS),
        ...Array.from({ length: 12 }, (_, i) => store.put(`b/${i}`, bufferBlob(randomBytes(10_000)), OCTETS)),
      ]);
      assert.equal((await store.list('b/')).size, 13);
      assert.ok(most <= 3 && most >= 2, `${most} requests were in flight at once`);
    } finally {
      await store.close();
      agent.destroy();
      counter.closeAllConnections();
      await new Promise((resolve) => counter.close(resolve));
    }
  });

  it('creates a bucket, and is fine when it already owns it', async () => {
    const store = createS3Store(options(s3, 'created'));
    assert.equal(await store.bucketExists(), false);
    await store.createBucket();
    assert.equal(await store.bucketExists(), true);
    await store.check({ write: true });
    await store.close();
  });
});

describe('s3 store through faults', () => {
  it('completes puts with the right content through 20% transient faults', async () => {
    const bucket = await s3.bucket('flaky');
    const proxy = await startFaultProxy({
      target: s3.endpoint,
      seed: 7,
      rates: { error500: 0.05, error503: 0.04, slowDown: 0.03, reset: 0.05, delay: 0.03 },
      delayMs: 50,
    });
    const store = createS3Store(options(s3, bucket, { endpoint: proxy.endpoint, partSize: 5 * MiB, maxConcurrency: 4 }));
    try {
      const file = path.join(work, 'flaky');
      const size = 16 * MiB + 5;
      const digest = await randomFile(file, size);
      const small = Array.from({ length: 48 }, (_, i) => randomBytes(1000 + i));
      await Promise.all([
        store.put('f/big', fileBlob(file, size), { ...OCTETS, sha256: digest }),
        ...small.map((data, i) => store.put(`f/${i}`, data, OCTETS)),
      ]);
      assert.equal(sha256((await read(s3.client, bucket, 'f/big'))!), digest);
      for (const [i, data] of small.entries()) assert.deepEqual(await read(s3.client, bucket, `f/${i}`), data);
      assert.equal((await store.list('f/')).size, small.length + 1);
      const faults = Object.values(proxy.injected).reduce((a, b) => a + b, 0);
      assert.ok(faults >= 5, `only ${faults} faults were injected`);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  for (const kind of FAULT_KINDS.filter((k) => k !== 'delay')) {
    it(`retries a put and a listing through ${kind}`, async () => {
      const bucket = await s3.bucket(`retried-${kind.toLowerCase()}`);
      const store = createS3Store(options(s3, bucket));
      await store.put('seen/a', Buffer.from('a'), OCTETS);
      await store.close();
      // Every request fails until the faults are spent: each call below needs retries.
      const faulty = () => startFaultProxy({ target: s3.endpoint, rates: { [kind]: 1 }, maxFaults: kind === 'slowDown' ? 1 : 2 });
      for (const call of [(store: Store) => store.put('seen/b', randomBytes(200_000), OCTETS), (store: Store) => store.list('seen/')]) {
        const proxy = await faulty();
        const store = createS3Store(options(s3, bucket, { endpoint: proxy.endpoint }));
        try {
          await call(store);
          assert.equal(proxy.injected[kind], kind === 'slowDown' ? 1 : 2);
        } finally {
          await store.close();
          await proxy.stop();
        }
      }
      assert.equal((await read(s3.client, bucket, 'seen/b'))?.length, 200_000);
    });
  }

  it('fails fast on a permanent 403, naming bucket and key', async () => {
    const bucket = await s3.bucket('denied');
    const proxy = await startFaultProxy({ target: s3.endpoint, permanent: [{ key: /^locked\// }] });
    const store = createS3Store(options(s3, bucket, { endpoint: proxy.endpoint, partSize: 5 * MiB }));
    try {
      const file = path.join(work, 'denied');
      await randomFile(file, 6 * MiB);
      const started = Date.now();
      for (const body of [Buffer.from('x'), fileBlob(file, 6 * MiB)]) {
        const err = await failure(store.put('locked/layer', body, OCTETS));
        assert.ok(err instanceof OperationError);
        assert.match(err.describe(), /s3:\/\/denied\/locked\/layer/);
        assert.match(err.describe(), /forbidden \(AccessDenied\)[\s\S]*grant s3:PutObject on arn:aws:s3:::denied\/locked\/layer/);
      }
      assert.equal(proxy.requests(/^locked\//), 2);
      assert.ok(Date.now() - started < 2000);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it('explains a bucket that refuses ACLs', async () => {
    const bucket = await s3.bucket('no-acls');
    const proxy = await startFaultProxy({
      target: s3.endpoint,
      permanent: [{ key: /^pub\//, status: 400, code: 'AccessControlListNotSupported' }],
    });
    const store = createS3Store(options(s3, bucket, { endpoint: proxy.endpoint, prefix: 'pub' }));
    try {
      const err = await failure(store.put('k', Buffer.from('x'), OCTETS));
      assert.ok(err instanceof ConfigError);
      assert.ok(err.describe().includes('[aws] acl = none'));
      assert.ok(err.describe().includes(publicReadPolicy('no-acls', 'pub/')));
      assert.ok(publicReadPolicy('no-acls', 'pub/').includes('"arn:aws:s3:::no-acls/pub/*"'));
    } finally {
      await store.close();
      await proxy.stop();
    }
  });
});

describe('s3 part sizes', () => {
  it('grows parts so no object needs more than 10000', () => {
    assert.equal(partSizeFor(1, undefined), 64 * MiB);
    assert.equal(partSizeFor(1, 5 * MiB), 5 * MiB);
    const huge = 200 * 1024 * MiB;
    assert.ok(Math.ceil(huge / partSizeFor(huge, undefined)) <= 10_000);
  });
});
