import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
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
 * Write one object. Blobs are never held in memory: they stream from the archive to S3
 * with their sha256 signed into each request, so the SDK does not hash them again and S3
 * refuses a body that differs from it. raas checks that too as it sends (see
 * checkedBody), for servers that do not, like s3rver. The hashes come from the caller
 * when it read the blob already (PutOptions.parts), else from one reading pass here first.
 */
export async function putObject(up: Uploader, key: string, body: Blob | Buffer, options: PutOptions): Promise<PutResult> {
  if (Buffer.isBuffer(body)) return putBuffer(up, key, body, options);
  const partSize = partSizeFor(body.size, up.partSize);
  let digests = givenDigests(body.size, partSize, options);
  if (!digests) {
    digests = await up.hashing(() => digestsOf(body, partSize, where(up, key), options.signal));
    checkDigest(up, key, options.sha256, digests.sha256);
  }
  if (digests.parts.length > 1) return putMultipart(up, key, body, partSize, digests, options);
  const { sha256 } = digests;
  try {
    await sendChecked(up, 'PutObject', key, body, { start: 0, end: body.size, sha256 }, options.signal, (stream, signal) =>
      up.client.send(
        signed(new PutObjectCommand({ ...objectFields(up, key, options.contentType, sha256), Body: stream, ContentLength: body.size, ...checksum(up, sha256) }), sha256),
        { abortSignal: signal },
      ),
    );
  } catch (error) {
    if (error instanceof IntegrityError) await removeCutShort(up, key, body.size);
    throw error;
  }
  options.onProgress?.(body.size);
  return { size: body.size, sha256 };
}

/** The caller's hashes, when they cover every part the object is sent in. */
function givenDigests(size: number, partSize: number, options: PutOptions): Digests | undefined {
  if (options.sha256 === undefined) return undefined;
  const sha256 = options.sha256.toLowerCase();
  const count = Math.max(1, Math.ceil(size / partSize));
  if (count === 1) return { sha256, parts: [sha256] };
  return options.parts?.length === count ? { sha256, parts: options.parts } : undefined;
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
        const out = await sendChecked(up, 'UploadPart', key, blob, { start, end, sha256, part: i + 1 }, partSignal, (stream, requestSignal) => {
          const part = { Bucket: up.bucket, Key: key, UploadId: uploadId, PartNumber: i + 1, Body: stream, ContentLength: end - start, ...checksum(up, sha256) };
          return up.client.send(signed(new UploadPartCommand(part), sha256), { abortSignal: requestSignal });
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

interface Range {
  readonly start: number;
  readonly end: number;
  /** Hex sha256 bytes [start, end) must have. */
  readonly sha256: string;
  /** The part number, when the range is one part of a multipart upload. */
  readonly part?: number;
}

/** Send a range of the blob as a request body that checkedBody verifies; its failure ends the request. */
function sendChecked<T>(up: Uploader, op: string, key: string, blob: Blob, range: Range, signal: AbortSignal | undefined, send: (body: Readable, signal: AbortSignal) => Promise<T>): Promise<T> {
  return streamed(up, op, key, signal, async () => {
    const failed = new AbortController();
    const body = checkedBody(blob.open(range.start, range.end), range, where(up, key), (error) => failed.abort(error));
    try {
      return await send(body, signal ? AbortSignal.any([signal, failed.signal]) : failed.signal);
    } catch (error) {
      // The request was ended because the bytes were wrong or could not be read: say that, not "aborted".
      throw failed.signal.aborted ? failed.signal.reason : error;
    } finally {
      body.destroy();
    }
  });
}

/**
 * The bytes of `range`, hashed as they pass. The last chunk is held back until the hash
 * and length are known to match, so a body that differs (the archive changed since it was
 * hashed) never arrives whole: `fail` ends the request first, and the stream ends short.
 */
function checkedBody(source: Readable, range: Range, target: string, fail: (error: Error) => void): Readable {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  let length = 0;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      length += chunk.length;
      if (held) this.push(held);
      held = chunk;
      callback();
    },
    flush(callback) {
      const expected = range.end - range.start;
      if (length !== expected) {
        fail(sizeChanged(target, range.start, range.end));
      } else {
        const actual = hash.digest('hex');
        if (actual !== range.sha256) fail(mismatch(target, range, actual));
        else if (held) this.push(held);
      }
      callback();
    },
  });
  // Errors end the request too: the SDK pipes the body, and a pipe does not pass errors on.
  return pipeline(source, check, (error) => {
    if (error) fail(error);
  });
}

/** How long to watch for a cut-short body that a server stores anyway (it writes it after the request ended). */
const CUT_SHORT_WATCH = { attempts: 20, delayMs: 100 } as const;

/**
 * After a body was cut short: S3 refuses it, but a server that checks neither the length
 * nor the signed payload hash (s3rver) stores what arrived, shortly after the request
 * ended, sometimes without its metadata. Watch for an object of the wrong size a little
 * while and remove it: keys name their content, so no right object has another size, and
 * a whole one with the right bytes (another push's) stays.
 */
async function removeCutShort(up: Uploader, key: string, size: number): Promise<void> {
  for (let attempt = 0; attempt < CUT_SHORT_WATCH.attempts; attempt++) {
    try {
      const head = await up.client.send(new HeadObjectCommand({ Bucket: up.bucket, Key: key }));
      if (head.ContentLength !== size) {
        await up.client.send(new DeleteObjectCommand({ Bucket: up.bucket, Key: key }));
        up.log.debug({ key }, 'removed the truncated object a cut-short upload left');
        return;
      }
    } catch (err) {
      if (httpStatus(err) !== 404) {
        up.log.warn({ key, err: (err as Error).name }, `could not check ${where(up, key)} for a truncated object`);
        return;
      }
    }
    await sleep(CUT_SHORT_WATCH.delayMs);
  }
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
  if (expected !== undefined && expected.toLowerCase() !== actual) throw mismatch(where(up, key), { sha256: expected.toLowerCase() }, actual);
}

const mismatch = (target: string, range: Pick<Range, 'sha256'> & Partial<Range>, actual: string): IntegrityError =>
  new IntegrityError(`content does not match sha256 ${range.sha256}: read ${actual}; nothing was stored`, {
    where: range.part === undefined ? target : `${target} part ${range.part} (bytes ${range.start}-${range.end})`,
    fix: 'the archive is corrupt or changed while it was read; export it again',
  });

const sizeChanged = (target: string, start: number, end: number): IntegrityError =>
  new IntegrityError(`source bytes ${start}-${end} did not have the expected length; nothing was stored`, {
    where: target,
    fix: 'the archive changed while it was read; do not modify it during an upload',
  });
