import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type ObjectCannedACL,
  type S3Client,
} from '@aws-sdk/client-s3';
import { IntegrityError } from '../errors.ts';
import type { Blob } from '../image/model.ts';
import type { Logger } from '../log.ts';
import type { Budget } from './budget.ts';
import type { PutOptions, PutResult } from './store.ts';

const MiB = 1024 * 1024;
/** S3's minimum for every part but the last. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
const DEFAULT_PART_SIZE = 8 * MiB;

/** User metadata (x-amz-meta-raas-sha256) holding the hex sha256 of the object. */
export const SHA256_METADATA = 'raas-sha256';

export interface Uploader {
  readonly client: S3Client;
  readonly bucket: string;
  readonly acl: ObjectCannedACL | undefined;
  /** Fixed part size; otherwise chosen per object. */
  readonly partSize: number | undefined;
  readonly budget: Budget;
  /** Multipart uploads in flight in this process, which cleanupIncomplete must spare. */
  readonly uploads: Set<string>;
  readonly log: Logger;
  /** Run one SDK call, turning its errors into RaasErrors naming `op` and `key`. */
  run<T>(op: string, key: string, call: () => Promise<T>): Promise<T>;
}

/** Parts of at least 8 MiB (fewer requests for big layers), grown so no object needs more than 10000. */
export function partSizeFor(size: number, fixed: number | undefined): number {
  const least = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  return Math.max(fixed ?? DEFAULT_PART_SIZE, least);
}

export async function putObject(up: Uploader, key: string, body: Blob | Buffer, options: PutOptions): Promise<PutResult> {
  const size = Buffer.isBuffer(body) ? body.length : body.size;
  const partSize = partSizeFor(size, up.partSize);
  if (!Buffer.isBuffer(body) && size > partSize) return putMultipart(up, key, body, partSize, options);

  // A Buffer is in memory already; a Blob is read whole into memory here.
  const release = await up.budget.acquire(Buffer.isBuffer(body) ? 0 : size);
  try {
    const data = Buffer.isBuffer(body) ? body : await readRange(body, 0, size, where(up, key));
    const sha256 = createHash('sha256').update(data).digest('hex');
    // Checked before sending, so a mismatch leaves nothing behind.
    checkDigest(up, key, options.sha256, sha256);
    await up.run('PutObject', key, () =>
      up.client.send(
        new PutObjectCommand({
          Bucket: up.bucket,
          Key: key,
          Body: data,
          ContentLength: size,
          ContentType: options.contentType,
          Metadata: { [SHA256_METADATA]: sha256 },
          ACL: up.acl,
        }),
        { abortSignal: options.signal },
      ),
    );
    options.onProgress?.(size);
    return { size, sha256 };
  } finally {
    release();
  }
}

async function putMultipart(up: Uploader, key: string, blob: Blob, partSize: number, options: PutOptions): Promise<PutResult> {
  const { signal } = options;
  // The checksum is metadata, fixed when the upload is created; without a declared
  // digest that takes a reading pass first (local reads are far faster than the upload).
  const sha256 = options.sha256?.toLowerCase() ?? (await hashBlob(blob, where(up, key), signal));
  const crc = (await up.client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
  const created = await up.run('CreateMultipartUpload', key, () =>
    up.client.send(
      new CreateMultipartUploadCommand({
        Bucket: up.bucket,
        Key: key,
        ContentType: options.contentType,
        Metadata: { [SHA256_METADATA]: sha256 },
        ACL: up.acl,
        ChecksumAlgorithm: crc ? 'CRC32' : undefined,
      }),
      { abortSignal: signal },
    ),
  );
  const uploadId = created.UploadId!;
  up.uploads.add(uploadId);

  const hash = createHash('sha256');
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  try {
    for (let start = 0, partNumber = 1; start < blob.size && !failure; start += partSize, partNumber += 1) {
      const end = Math.min(start + partSize, blob.size);
      const release = await up.budget.acquire(end - start);
      if (failure) {
        release();
        break;
      }
      let data: Buffer;
      try {
        signal?.throwIfAborted();
        data = await readRange(blob, start, end, where(up, key));
      } catch (error) {
        release();
        throw error;
      }
      // Parts are read in order, so the digest covers exactly the bytes sent.
      hash.update(data);
      const number = partNumber;
      const sending = up
        .run('UploadPart', key, () =>
          up.client.send(
            new UploadPartCommand({ Bucket: up.bucket, Key: key, UploadId: uploadId, PartNumber: number, Body: data }),
            { abortSignal: signal },
          ),
        )
        .then(
          (out) => {
            parts.push({ PartNumber: number, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 });
            options.onProgress?.(data.length);
          },
          (error: unknown) => {
            failure ??= { error };
          },
        )
        .finally(() => {
          release();
          inFlight.delete(sending);
        });
      inFlight.add(sending);
    }
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    checkDigest(up, key, sha256, hash.digest('hex'));
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await up.run('CompleteMultipartUpload', key, () =>
      up.client.send(
        new CompleteMultipartUploadCommand({ Bucket: up.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        { abortSignal: signal },
      ),
    );
    return { size: blob.size, sha256 };
  } catch (error) {
    await Promise.allSettled(inFlight);
    await abandon(up, key, uploadId);
    throw error;
  } finally {
    up.uploads.delete(uploadId);
  }
}

async function abandon(up: Uploader, key: string, uploadId: string): Promise<void> {
  try {
    await up.client.send(new AbortMultipartUploadCommand({ Bucket: up.bucket, Key: key, UploadId: uploadId }));
  } catch (err) {
    // The object never became visible; only the stored parts remain until cleanupIncomplete.
    up.log.warn({ key, uploadId, err: (err as Error).name }, `could not abort the multipart upload of ${where(up, key)}`);
  }
}

const where = (up: Uploader, key: string): string => `s3://${up.bucket}/${key}`;

function checkDigest(up: Uploader, key: string, expected: string | undefined, actual: string): void {
  if (expected !== undefined && expected.toLowerCase() !== actual) {
    throw new IntegrityError(`content does not match sha256 ${expected}: read ${actual}; nothing was stored`, {
      where: where(up, key),
      fix: 'the archive is corrupt or changed while it was read; export it again',
    });
  }
}

/** Read bytes [start, end) of a blob into one buffer, insisting on exactly that many. */
async function readRange(blob: Blob, start: number, end: number, target: string): Promise<Buffer> {
  const out = Buffer.allocUnsafe(end - start);
  let filled = 0;
  for await (const chunk of blob.open(start, end) as AsyncIterable<Buffer>) {
    if (filled + chunk.length > out.length) throw sizeChanged(target, start, end);
    chunk.copy(out, filled);
    filled += chunk.length;
  }
  if (filled !== out.length) throw sizeChanged(target, start, end);
  return out;
}

async function hashBlob(blob: Blob, target: string, signal: AbortSignal | undefined): Promise<string> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of blob.open() as AsyncIterable<Buffer>) {
    signal?.throwIfAborted();
    hash.update(chunk);
    size += chunk.length;
  }
  if (size !== blob.size) throw sizeChanged(target, 0, blob.size);
  return hash.digest('hex');
}

const sizeChanged = (target: string, start: number, end: number): IntegrityError =>
  new IntegrityError(`source bytes ${start}-${end} did not have the expected length; nothing was stored`, {
    where: target,
    fix: 'the archive changed while it was read; do not modify it during an upload',
  });
