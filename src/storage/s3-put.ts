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
import type { LimitFunction } from 'p-limit';
import pRetry from 'p-retry';
import { IntegrityError } from '../errors.ts';
import type { Blob } from '../image/model.ts';
import type { Logger } from '../log.ts';
import { httpStatus, transient } from './s3-errors.ts';
import type { WriteJournal } from './journal.ts';
import type { PutOptions, PutResult } from './store.ts';

const MiB = 1024 * 1024;
/** S3's minimum for every part but the last. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
/**
 * Large enough that most layers go up in one request: a multipart upload costs three more
 * requests, and S3-compatible servers such as s3rver join its parts by copying them again.
 */
export const DEFAULT_PART_SIZE = 64 * MiB;
/** Attempts per request: transient failures (5xx, SlowDown, resets, timeouts) are retried with jittered backoff. */
export const MAX_ATTEMPTS = 5;

/** User metadata (x-amz-meta-raas-sha256) holding the hex sha256 of the object. */
export const SHA256_METADATA = 'raas-sha256';

export interface Uploader {
  readonly client: S3Client;
  readonly bucket: string;
  /** The store's location and key prefix: the journal records keys relative to them. */
  readonly location: string;
  readonly prefix: string;
  readonly acl: ObjectCannedACL | undefined;
  /** Fixed part size; otherwise chosen per object. */
  readonly partSize: number | undefined;
  /** Requests (whole objects or parts) in flight across the store. */
  readonly requests: LimitFunction;
  /** Reading passes that hash blobs before they are sent; they are CPU-bound, so few at a time. */
  readonly hashing: LimitFunction;
  /** Send x-amz-checksum-sha256, which S3 verifies and keeps with the object (AWS; many S3-compatible servers reject it). */
  readonly checksums: boolean;
  /** Records multipart uploads until they are completed or aborted, for the run after a crash. */
  readonly journal: WriteJournal | undefined;
  readonly log: Logger;
  /** Run one SDK call, turning its errors into RaasErrors naming `op` and `key`. */
  run<T>(op: string, key: string, call: () => Promise<T>): Promise<T>;
}

/** Parts of the fixed size or the default, grown so no object needs more than 10000. */
export function partSizeFor(size: number, fixed: number | undefined): number {
  const least = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  return Math.max(fixed ?? DEFAULT_PART_SIZE, least);
}

/**
 * Write one object. Blobs are never held in memory: one reading pass hashes the object
 * (and each part, when it is split), then the bytes stream from the archive to S3 with
 * their sha256 signed into each request. So the SDK does not hash them again, and S3
 * refuses a body that differs from what was hashed, e.g. because the archive changed in
 * between. (Servers that skip that check, like s3rver, would store the changed bytes.)
 */
export async function putObject(up: Uploader, key: string, body: Blob | Buffer, options: PutOptions): Promise<PutResult> {
  if (Buffer.isBuffer(body)) return putBuffer(up, key, body, options);
  const partSize = partSizeFor(body.size, up.partSize);
  const digests = await up.hashing(() => digestsOf(body, partSize, where(up, key), options.signal));
  checkDigest(up, key, options.sha256, digests.sha256);
  if (digests.parts.length > 1) return putMultipart(up, key, body, partSize, digests, options);
  await streamed(up, 'PutObject', key, options.signal, async () => {
    const stream = body.open();
    try {
      return await up.client.send(
        signed(new PutObjectCommand({ ...objectFields(up, key, options.contentType, digests.sha256), Body: stream, ContentLength: body.size, ...checksum(up, digests.sha256) }), digests.sha256),
        { abortSignal: options.signal },
      );
    } finally {
      stream.destroy();
    }
  });
  options.onProgress?.(body.size);
  return { size: body.size, sha256: digests.sha256 };
}

/** Small objects already in memory; the SDK retries these itself. */
async function putBuffer(up: Uploader, key: string, data: Buffer, options: PutOptions): Promise<PutResult> {
  const sha256 = createHash('sha256').update(data).digest('hex');
  // Checked before sending, so a mismatch leaves nothing behind.
  checkDigest(up, key, options.sha256, sha256);
  await up.requests(() =>
    up.run('PutObject', key, () =>
      up.client.send(
        signed(new PutObjectCommand({ ...objectFields(up, key, options.contentType, sha256), Body: data, ContentLength: data.length, ...checksum(up, sha256) }), sha256),
        { abortSignal: options.signal },
      ),
    ),
  );
  options.onProgress?.(data.length);
  return { size: data.length, sha256 };
}

interface Digests {
  /** Hex sha256 of the whole object. */
  readonly sha256: string;
  /** Hex sha256 of each part; the object's own for a single part. */
  readonly parts: readonly string[];
}

async function putMultipart(up: Uploader, key: string, blob: Blob, partSize: number, digests: Digests, options: PutOptions): Promise<PutResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  // Not cut short by the signal: S3 may create the upload without the client ever learning
  // its id, and nothing could abort it then. It is one small request; the abort follows.
  const created = await up.requests(() =>
    up.run('CreateMultipartUpload', key, () =>
      up.client.send(
        new CreateMultipartUploadCommand({ ...objectFields(up, key, options.contentType, digests.sha256), ...(up.checksums ? { ChecksumAlgorithm: 'SHA256' } : {}) }),
      ),
    ),
  );
  const uploadId = created.UploadId!;
  up.journal?.started(up.location, key.slice(up.prefix.length), uploadId);
  // The first failed part stops the others, queued or running.
  const failed = new AbortController();
  const partSignal = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
  try {
    signal?.throwIfAborted();
    const sending = digests.parts.map(async (sha256, i): Promise<CompletedPart> => {
      const start = i * partSize;
      const end = Math.min(start + partSize, blob.size);
      try {
        const out = await streamed(up, 'UploadPart', key, partSignal, async () => {
          const stream = blob.open(start, end);
          try {
            const part = { Bucket: up.bucket, Key: key, UploadId: uploadId, PartNumber: i + 1, Body: stream, ContentLength: end - start, ...checksum(up, sha256) };
            return await up.client.send(signed(new UploadPartCommand(part), sha256), { abortSignal: partSignal });
          } finally {
            stream.destroy();
          }
        });
        options.onProgress?.(end - start);
        return { PartNumber: i + 1, ETag: out.ETag, ...(up.checksums ? { ChecksumSHA256: out.ChecksumSHA256 } : {}) };
      } catch (error) {
        failed.abort(error);
        throw error;
      }
    });
    const settled = await Promise.allSettled(sending);
    if (failed.signal.aborted) throw failed.signal.reason;
    const parts = settled.map((s) => (s as PromiseFulfilledResult<CompletedPart>).value);
    await up.requests(() =>
      up.run('CompleteMultipartUpload', key, () =>
        up.client.send(
          new CompleteMultipartUploadCommand({ Bucket: up.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
          { abortSignal: signal },
        ),
      ),
    );
    up.journal?.ended(uploadId);
    return { size: blob.size, sha256: digests.sha256 };
  } catch (error) {
    await abandon(up, key, uploadId);
    throw error;
  }
}

/** A request whose body is a stream, retried here with a fresh stream each time: the SDK cannot replay one. */
function streamed<T>(up: Uploader, op: string, key: string, signal: AbortSignal | undefined, send: () => Promise<T>): Promise<T> {
  return up.requests(() =>
    up.run(op, key, () =>
      pRetry(send, { retries: MAX_ATTEMPTS - 1, minTimeout: 200, randomize: true, signal, shouldRetry: ({ error }) => transient(error) }),
    ),
  );
}

type SignableCommand = PutObjectCommand | UploadPartCommand;

/** Sign the body with the sha256 raas computed: the SDK then does not hash it itself, and S3 verifies it. */
function signed<C extends SignableCommand>(command: C, sha256: string): C {
  (command as PutObjectCommand).middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = sha256;
      return next(args);
    },
    { step: 'build', name: 'raasPayloadSha256' },
  );
  return command;
}

const objectFields = (up: Uploader, key: string, contentType: string, sha256: string) => ({
  Bucket: up.bucket,
  Key: key,
  ContentType: contentType,
  Metadata: { [SHA256_METADATA]: sha256 },
  ACL: up.acl,
});

const checksum = (up: Uploader, sha256: string) =>
  up.checksums ? { ChecksumAlgorithm: 'SHA256' as const, ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64') } : {};

/** One reading pass over a blob: the sha256 of the whole and, when it is split, of each part. */
async function digestsOf(blob: Blob, partSize: number, target: string, signal: AbortSignal | undefined): Promise<Digests> {
  const count = Math.max(1, Math.ceil(blob.size / partSize));
  const whole = createHash('sha256');
  const parts: string[] = [];
  let read = 0;
  for (let start = 0; parts.length < count; start += partSize) {
    const part = count > 1 ? createHash('sha256') : whole;
    for await (const chunk of blob.open(start, Math.min(start + partSize, blob.size)) as AsyncIterable<Buffer>) {
      signal?.throwIfAborted();
      if (part !== whole) whole.update(chunk);
      part.update(chunk);
      read += chunk.length;
    }
    parts.push(part.digest('hex'));
  }
  if (read !== blob.size) throw sizeChanged(target, 0, blob.size);
  return { sha256: count > 1 ? whole.digest('hex') : parts[0]!, parts };
}

async function abandon(up: Uploader, key: string, uploadId: string): Promise<void> {
  try {
    await abortUpload(up, key, uploadId);
    up.journal?.ended(uploadId);
  } catch (err) {
    // The object never became visible; the journal keeps the upload for the next run to abort.
    up.log.warn({ key, uploadId, err: (err as Error).name }, `could not abort the multipart upload of ${where(up, key)}; the next push tries again`);
  }
}

/** Abort an upload; one that is already gone (completed or aborted) counts as aborted. */
export async function abortUpload(up: Pick<Uploader, 'client' | 'bucket' | 'log'>, key: string, uploadId: string): Promise<void> {
  try {
    await up.client.send(new AbortMultipartUploadCommand({ Bucket: up.bucket, Key: key, UploadId: uploadId }));
  } catch (err) {
    const status = httpStatus(err);
    if (status === 404) return;
    // A server that does not implement aborts (s3rver answers 405) will not later either:
    // retrying every run would only repeat the warning. Its parts are never visible.
    if (status === 405 || status === 501) {
      up.log.debug({ key, uploadId, status }, 'the S3 endpoint does not implement AbortMultipartUpload');
      return;
    }
    throw err;
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

const sizeChanged = (target: string, start: number, end: number): IntegrityError =>
  new IntegrityError(`source bytes ${start}-${end} did not have the expected length; nothing was stored`, {
    where: target,
    fix: 'the archive changed while it was read; do not modify it during an upload',
  });
