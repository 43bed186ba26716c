import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
  type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';
import { ConfigError, OperationError } from '../errors.ts';
import { isHex64 } from '../image/model.ts';
import type { Logger } from '../log.ts';
import { checkKey, checkPrefix, encodeKeyPath, normalizePrefix, withTrailingSlash } from './keys.ts';
import pLimit from 'p-limit';
import { httpStatus, wrapS3Error, type S3ErrorContext } from './s3-errors.ts';
import type { WriteJournal } from './journal.ts';
import { abortUpload, MAX_ATTEMPTS, MAX_PART_SIZE, MIN_PART_SIZE, partSizeFor, SHA256_METADATA, putObject, type Uploader } from './s3-put.ts';
import type { ListedObject, Store } from './store.ts';

export { publicReadPolicy } from './s3-errors.ts';

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix of the store root; normalized to "" or "a/b/". */
  readonly prefix?: string;
  readonly region: string;
  /** An S3-compatible endpoint instead of AWS, e.g. "http://127.0.0.1:9000". */
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  /** Without these the AWS default chain is used: AWS_* environment, shared files, AWS_PROFILE. */
  readonly credentials?: S3Credentials;
  readonly acl: 'public-read' | 'none';
  /** private: clients get pre-signed URLs (presign); the bucket needs no public read. Default public. */
  readonly access?: 'public' | 'private';
  /** Public base URL of the store root (the prefix), e.g. a CDN; derived from bucket and region otherwise. */
  readonly publicUrl?: string;
  /** Requests (parts or whole objects) in flight across the store. */
  readonly maxConcurrency: number;
  /** Fixed multipart part size in bytes (5 MiB - 5 GiB); otherwise 64 MiB; grown for huge objects. */
  readonly partSize?: number;
  /**
   * Send checksums with uploads: raas's SHA-256 (x-amz-checksum-sha256) and the SDK's own
   * (CRC32 since v3.729), and validate those of responses. Default: on for AWS, off for
   * custom endpoints, as several S3-compatible services refuse the newer checksum headers
   * (`[aws] checksums`). Off, checksums are sent only where an operation requires one.
   */
  readonly requestChecksums?: boolean;
  /** Where multipart uploads are recorded until completed or aborted. */
  readonly journal?: WriteJournal;
  /**
   * Silence after which an attempt is given up (connecting, waiting for the first byte of
   * the answer, or mid-transfer) and retried; default 60 s. An endpoint that accepts
   * connections and never answers fails after MAX_ATTEMPTS of these plus backoff.
   */
  readonly requestTimeoutMs?: number;
  readonly logger: Logger;
}

export interface S3Store extends Store {
  readonly bucket: string;
  partSize(size: number): number;
  /** Key prefix of the store root: "" or ends with "/". */
  readonly prefix: string;
  /** A URL that lets anyone GET `key` for `seconds` (AWS allows up to 7 days), signed with the store's credentials. */
  presign(key: string, seconds: number): Promise<string>;
  bucketExists(): Promise<boolean>;
  /** Create the bucket in the store's region; fine if this account already owns it. */
  createBucket(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** A socket idle this long is taken as dead; the request is retried on a new one (`[aws] request_timeout`). */
const REQUEST_TIMEOUT_MS = 60_000;
/** Sockets beyond the upload requests for listings, stats and copies running beside them. */
const EXTRA_SOCKETS = 8;
/** Hashing passes at once: they run on the one JavaScript thread, so two keep it busy while reads wait on the disk. */
const HASHING = 2;
const BUCKET_LEVEL_OPS = new Set(['HeadBucket', 'ListObjectsV2', 'CreateBucket']);

export function createS3Store(options: S3StoreOptions): S3Store {
  const { bucket, region } = options;
  const prefix = normalizePrefix(options.prefix ?? '');
  const location = `s3://${bucket}/${prefix}`;
  checkOptions(options, location);
  const log = options.logger.child({ store: location });
  const acl = options.acl === 'public-read' ? 'public-read' : undefined;

  // Keep-alive: a push makes thousands of small requests for layers of a few KiB.
  const agent = { keepAlive: true, maxSockets: options.maxConcurrency + EXTRA_SOCKETS };
  const httpAgent = new http.Agent(agent);
  const httpsAgent = new https.Agent(agent);
  const checksums = options.requestChecksums ?? !options.endpoint;
  const client = new S3Client({
    region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials: options.credentials,
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'standard',
    requestChecksumCalculation: checksums ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
    responseChecksumValidation: checksums ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
    // The SDK's own notes (e.g. that it does not retry a streamed body; raas does) are for the run log only.
    logger: { trace() {}, debug() {}, info() {}, warn: (message: unknown) => log.debug({ sdk: message }, 'AWS SDK warning'), error: (message: unknown) => log.debug({ sdk: message }, 'AWS SDK error') },
    requestHandler: {
      httpAgent,
      httpsAgent,
      connectionTimeout: Math.min(CONNECT_TIMEOUT_MS, options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS),
      // An idle timer on the socket: it runs while the request waits for its answer (time to
      // first byte) and while a body stalls, and resets whenever bytes move, so a slow but
      // steady upload of a large part is not cut off.
      socketTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      logger: log,
    },
  });
  // Every failed attempt, retried or not, goes to the debug log: slow uploads explain themselves.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const key = (args.input as { Key?: string }).Key;
        log.debug({ op: context.commandName, key, status: httpStatus(err), err: (err as Error).name }, 'S3 request failed');
        throw err;
      }
    },
    // Below the retry middleware (priority high in the same step), so it sees each attempt.
    { step: 'finalizeRequest', priority: 'low', name: 'raasAttemptLog' },
  );

  const credentials = options.credentials
    ? `access key …${options.credentials.accessKeyId.slice(-4)} from the configuration`
    : 'the AWS default credentials (AWS_* environment, shared credentials files, AWS_PROFILE)';
  const errorContext = (op: string, key?: string): S3ErrorContext => ({
    op,
    bucket,
    prefix,
    key,
    endpoint: options.endpoint ?? `https://s3.${region}.amazonaws.com`,
    region,
    credentials,
    resource: BUCKET_LEVEL_OPS.has(op) ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key ?? `${prefix}*`}`,
  });
  const run = async <T>(op: string, key: string | undefined, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      throw wrapS3Error(err, errorContext(op, key));
    }
  };

  const uploader: Uploader = {
    client,
    bucket,
    acl,
    partSize: options.partSize,
    requests: pLimit(options.maxConcurrency),
    hashing: pLimit(HASHING),
    checksums,
    location,
    prefix,
    journal: options.journal,
    log,
    run,
  };
  const fullKey = (key: string): string => {
    checkKey(key, `${location}${key}`);
    return prefix + key;
  };
  const headBucket = () => client.send(new HeadBucketCommand({ Bucket: bucket }));
  const base = publicBase(options, prefix);

  const getObject = async (key: string, range?: { start: number; end: number }) => {
    const Key = fullKey(key);
    try {
      return await client.send(new GetObjectCommand({ Bucket: bucket, Key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw wrapS3Error(err, errorContext('GetObject', Key));
    }
  };

  return {
    kind: 's3',
    location,
    bucket,
    prefix,
    access: options.access ?? 'public',

    async read(key, { maxBytes }) {
      const got = await getObject(key);
      if (!got) return undefined;
      const body = got.Body as Readable;
      if ((got.ContentLength ?? 0) > maxBytes) {
        body.destroy();
        throw new OperationError(`s3://${bucket}/${prefix}${key} is ${got.ContentLength} bytes, more than the ${maxBytes} raas reads whole`, { where: location });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          body.destroy();
          throw new OperationError(`s3://${bucket}/${prefix}${key} is more than the ${maxBytes} bytes raas reads whole`, { where: location });
        }
        chunks.push(chunk as Buffer);
      }
      return { body: Buffer.concat(chunks), contentType: got.ContentType };
    },

    async openRead(key, range) {
      const got = await getObject(key, range);
      return got ? (got.Body as Readable) : undefined;
    },

    async presign(key, seconds) {
      return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: fullKey(key) }), { expiresIn: seconds });
    },

    async list(keyPrefix, { limit = Infinity } = {}) {
      checkPrefix(keyPrefix, location);
      const found = new Map<string, ListedObject>();
      await run('ListObjectsV2', prefix + keyPrefix, async () => {
        for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix + keyPrefix })) {
          for (const object of page.Contents ?? []) {
            if (object.Key === undefined) continue;
            found.set(object.Key.slice(prefix.length), { size: object.Size ?? 0, etag: object.ETag?.replaceAll('"', '') });
          }
          if (found.size >= limit) break;
        }
      });
      return found;
    },

    async stat(key) {
      const Key = fullKey(key);
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key }));
        const sha256 = head.Metadata?.[SHA256_METADATA];
        return { size: head.ContentLength ?? 0, sha256: sha256 !== undefined && isHex64(sha256) ? sha256 : undefined };
      } catch (err) {
        if (httpStatus(err) === 404) return undefined;
        throw wrapS3Error(err, errorContext('HeadObject', Key));
      }
    },

    partSize(size) {
      return partSizeFor(size, options.partSize);
    },
    async put(key, body, putOptions) {
      return putObject(uploader, fullKey(key), body, putOptions);
    },

    async copy(fromKey, toKey) {
      const from = fullKey(fromKey);
      const Key = fullKey(toKey);
      const CopySource = `${encodeURIComponent(bucket)}/${encodeKeyPath(from)}`;
      try {
        await client.send(new CopyObjectCommand({ Bucket: bucket, Key, CopySource, MetadataDirective: 'COPY', ACL: acl }));
      } catch (err) {
        if ((err as Error).name === 'NoSuchKey') {
          throw new OperationError(`cannot copy ${fromKey}: it does not exist`, { where: `s3://${bucket}/${from}` });
        }
        throw wrapS3Error(err, errorContext('CopyObject', Key));
      }
    },

    async delete(key) {
      const Key = fullKey(key);
      await run('DeleteObject', Key, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key })));
    },

    publicUrl(keyPrefix) {
      return base + encodeKeyPath(keyPrefix);
    },

    async check({ write }) {
      await run('HeadBucket', undefined, headBucket);
      if (!write) return;
      const probe = `${prefix}.raas-check-${randomBytes(6).toString('hex')}`;
      const body = Buffer.from('raas write check\n');
      await run('PutObject', probe, () => client.send(new PutObjectCommand({ Bucket: bucket, Key: probe, Body: body, ACL: acl })));
      await run('DeleteObject', probe, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: probe })));
    },

    async abortIncomplete(key, uploadId) {
      const Key = fullKey(key);
      await run('AbortMultipartUpload', Key, () => abortUpload(uploader, Key, uploadId));
    },

    async bucketExists() {
      try {
        await headBucket();
        return true;
      } catch (err) {
        if (httpStatus(err) === 404) return false;
        throw wrapS3Error(err, errorContext('HeadBucket'));
      }
    },

    async createBucket() {
      const configuration = region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint };
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: configuration }));
      } catch (err) {
        if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw wrapS3Error(err, errorContext('CreateBucket'));
      }
    },

    async close() {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function checkOptions(options: S3StoreOptions, where: string): void {
  if (!Number.isInteger(options.maxConcurrency) || options.maxConcurrency < 1) {
    throw new ConfigError(`concurrency must be a positive integer, not ${options.maxConcurrency}`, { where });
  }
  const { partSize } = options;
  if (partSize !== undefined && !(partSize >= MIN_PART_SIZE && partSize <= MAX_PART_SIZE)) {
    throw new ConfigError(`part size ${partSize} is outside S3's limits (5 MiB to 5 GiB)`, { where });
  }
}

/**
 * The URL of the store root as the SDK addresses it: virtual-hosted unless path style is
 * forced (which most S3-compatible services need; Aliyun OSS refuses it), the endpoint is an
 * IP address (the SDK's endpoint rules go path-style there too), or the bucket name has dots
 * (they break the TLS wildcard certificate of virtual hosts).
 */
function publicBase(options: S3StoreOptions, prefix: string): string {
  if (options.publicUrl) return withTrailingSlash(options.publicUrl);
  const { bucket, region } = options;
  const path = encodeKeyPath(prefix);
  const endpoint = new URL(options.endpoint ?? (region === 'us-east-1' ? 'https://s3.amazonaws.com' : `https://s3.${region}.amazonaws.com`));
  const base = `${endpoint.origin}${endpoint.pathname.replace(/\/+$/, '')}`;
  if (options.forcePathStyle || bucket.includes('.') || isIP(endpoint.hostname.replace(/^\[|\]$/g, '')) !== 0) return `${base}/${bucket}/${path}`;
  return `${endpoint.protocol}//${bucket}.${endpoint.host}${endpoint.pathname.replace(/\/+$/, '')}/${path}`;
}
