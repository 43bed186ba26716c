import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { IntegrityError } from '../../src/errors.ts';
import { layerDigester } from '../../src/image/layer-digests.ts';
import type { V1Image } from '../../src/image/model.ts';
import { silentLogger } from '../../src/log.ts';
import type { PlannedObject } from '../../src/publish/plan.ts';
import { uploadAll } from '../../src/publish/upload.ts';
import { createS3Store } from '../../src/storage/s3.ts';
import { startS3, type S3Server } from '../helpers/s3.ts';
import { bufferBlob, sha256 } from '../storage/blob.ts';

const MiB = 1024 * 1024;

let s3: S3Server;
before(async () => {
  s3 = await startS3();
});
after(() => s3.stop());

describe('uploadAll', () => {
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
    const object: PlannedObject = {
      key, kind: 'layer', image, body: image.layer, size: inArchive.length, contentType: 'application/octet-stream',
      // As the plan leaves it: the source's recorded sha256, and a source that is gone by now.
      sha256: sha256(declared), copyFrom: `other-app/${id}/layer`,
    };
    const digests = layerDigester((size) => store.partSize(size));
    await assert.rejects(
      uploadAll({ store, objects: [object], jobs: 2, logger: silentLogger(), signal: new AbortController().signal, digests }),
      (err: unknown) => err instanceof IntegrityError && err.message.includes(sha256(declared)),
    );
    assert.equal(await store.stat(key), undefined, 'bytes that differ from the expected sha256 were stored');
    await store.close();
  });
});
