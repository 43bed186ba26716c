import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { IntegrityError } from '../../src/errors.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import type { V1Image } from '../../src/image/model.ts';
import { silentLogger } from '../../src/log.ts';
import type { LayoutObject } from '../../src/layout/layout.ts';
import { writeStaged } from '../../src/publish/write.ts';
import { createS3Store } from '../../src/storage/s3.ts';
import { startS3, type S3Server } from '../helpers/s3.ts';
import { bufferBlob, sha256 } from '../storage/blob.ts';

const MiB = 1024 * 1024;

let s3: S3Server;
before(async () => {
  s3 = await startS3();
});
after(() => s3.stop());

describe('writeStaged', () => {
  it('uploads a layer whose copy failed only if its bytes are the ones the plan expects, multipart too', async () => {
    const bucket = await s3.bucket('copy-fallback');
    const store = createS3Store({
      bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials,
      acl: 'none', maxConcurrency: 4, partSize: 5 * MiB, logger: silentLogger(),
    });
    const id = 'c'.repeat(64);
    const declared = randomBytes(11 * MiB);
    const inArchive = Buffer.from(declared);
    inArchive[6 * MiB]! ^= 0xff; // the archive's bytes are not what its digest (and the copy source) says
    const image = { id, layer: bufferBlob(inArchive) } as V1Image;
    const key = `acme-app/${id}/layer`;
    const object: LayoutObject = {
      key, layer: image, body: image.layer, stage: 0, size: inArchive.length, contentType: 'application/octet-stream',
      // As the plan leaves it: the source's recorded sha256, and a source that is gone by now.
      sha256: sha256(declared), copyFrom: `other-app/${id}/layer`,
    };
    const digests = layerDigester((size) => store.partSize(size));
    await assert.rejects(
      writeStaged({ store, objects: [object], jobs: 2, logger: silentLogger(), signal: new AbortController().signal, digests }),
      (err: unknown) => err instanceof IntegrityError && err.message.includes(sha256(declared)),
    );
    assert.equal(await store.stat(key), undefined, 'bytes that differ from the expected sha256 were stored');
    await store.close();
  });
});

describe('writeStaged stages', () => {
  const put = (key: string, stage: number): LayoutObject => {
    const body = Buffer.from(key);
    return { key, body, size: body.length, contentType: 'application/json', sha256: sha256(body), stage };
  };

  it('starts no object of a stage before every object of the stages below it is stored', async (t) => {
    const root = await (await import('../helpers/git.ts')).tempDir(t);
    const inner = (await import('../../src/storage/file.ts')).createFileStore({ root, publicUrl: 'https://s/' });
    const events: string[] = [];
    // The slow object of stage 0 finishes last; stage 1 must still wait for it.
    const store = Object.assign(Object.create(inner) as typeof inner, {
      put: async (key: string, body: Buffer, options: Parameters<typeof inner.put>[2]) => {
        events.push(`start ${key}`);
        if (key === 'slow') await new Promise((r) => setTimeout(r, 100));
        const result = await inner.put(key, body, options);
        events.push(`done ${key}`);
        return result;
      },
    });
    const objects = [put('tag', 2), put('manifest', 1), put('slow', 0), put('fast', 0)];
    await writeStaged({ store, objects, jobs: 4, logger: silentLogger(), signal: new AbortController().signal, digests: layerDigester() });
    const at = (event: string) => events.indexOf(event);
    assert.ok(at('done slow') < at('start manifest') && at('done fast') < at('start manifest'), events.join(', '));
    assert.ok(at('done manifest') < at('start tag'), events.join(', '));
  });

  it('writes nothing of a later stage when an object of an earlier one fails', async (t) => {
    const root = await (await import('../helpers/git.ts')).tempDir(t);
    const store = (await import('../../src/storage/file.ts')).createFileStore({ root, publicUrl: 'https://s/' });
    const broken = { ...put('blob', 0), sha256: 'f'.repeat(64) };
    await assert.rejects(
      writeStaged({ store, objects: [broken, put('link', 1)], jobs: 2, logger: silentLogger(), signal: new AbortController().signal, digests: layerDigester() }),
      IntegrityError,
    );
    assert.equal(await store.stat('blob'), undefined);
    assert.equal(await store.stat('link'), undefined, 'a reference to a blob that failed was written');
  });
});
