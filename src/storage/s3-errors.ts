import { ConfigError, OperationError, RaasError } from '../errors.ts';

/**
 * The bucket policy that makes everything under `prefix` publicly readable, for buckets
 * that refuse ACLs (Object Ownership "Bucket owner enforced", the default since 2023).
 */
export function publicReadPolicy(bucket: string, prefix: string): string {
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'RaasPublicRead',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${bucket}/${prefix}*`,
      },
    ],
  };
  return JSON.stringify(policy, null, 2);
}

export interface S3ErrorContext {
  readonly op: string;
  readonly bucket: string;
  readonly prefix: string;
  /** Full key in the bucket, for object operations. */
  readonly key?: string;
  readonly endpoint: string;
  readonly region: string;
  /** Which credentials were used, without any secret: for 403 messages. */
  readonly credentials: string;
  /** The ARN a 403 asks to grant access on. */
  readonly resource: string;
}

/** The IAM action each operation needs, so a 403 can say what to grant. */
const ACTIONS: Record<string, string> = {
  HeadBucket: 's3:ListBucket',
  ListObjectsV2: 's3:ListBucket',
  HeadObject: 's3:GetObject',
  GetObject: 's3:GetObject',
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  CopyObject: 's3:GetObject and s3:PutObject',
  DeleteObject: 's3:DeleteObject',
  ListMultipartUploads: 's3:ListBucketMultipartUploads',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  CreateBucket: 's3:CreateBucket',
};

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE',
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

export const httpStatus = (err: unknown): number | undefined => (err as SdkError)?.$metadata?.httpStatusCode;

const RETRYABLE_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError', 'InternalError']);

/**
 * Whether another attempt may succeed, as the SDK's standard retry strategy decides it:
 * 5xx, 429, throttling, timeouts and broken connections. Requests with streamed bodies are
 * retried by raas (the SDK cannot replay a stream), so it needs the same judgement.
 */
export function transient(err: unknown, depth = 0): boolean {
  const e = (err ?? {}) as SdkError & { cause?: unknown };
  if (e.name === 'AbortError') return false;
  const status = httpStatus(err);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (RETRYABLE_NAMES.has(e.name ?? '') || RETRYABLE_NAMES.has(e.code ?? '')) return true;
  if (status === undefined && (NETWORK_CODES.has(e.code ?? '') || /socket hang up|ECONNRESET/.test(e.message ?? ''))) return true;
  return e.cause !== undefined && depth < 5 && transient(e.cause, depth + 1);
}

/**
 * Turn an SDK error into a RaasError that says where and what to do. The SDK error is
 * not kept as the cause: some carry the access key id, the string to sign and the
 * signature provided, and the CLI prints causes.
 */
export function wrapS3Error(err: unknown, ctx: S3ErrorContext): unknown {
  if (err instanceof RaasError) return err;
  const e = (err ?? {}) as SdkError;
  if (e.name === 'AbortError') return err;
  const status = httpStatus(err);
  const named = e.code ?? e.name;
  // HEAD answers have no body, so the SDK can only name them after the status.
  const code = named && named !== 'Unknown' && named !== 'UnknownError' && !/^\d+$/.test(named) ? named : `HTTP ${status ?? '?'}`;
  const where = `s3://${ctx.bucket}/${ctx.key ?? ctx.prefix}`;
  const attempts = e.$metadata?.attempts ?? 1;
  const tried = attempts > 1 ? ` after ${attempts} attempts` : '';

  if (status === undefined && (NETWORK_CODES.has(code) || e.name === 'TimeoutError')) {
    return new OperationError(`cannot reach S3 endpoint ${ctx.endpoint} (${code})${tried}`, {
      where,
      fix: 'check [aws] endpoint and region, and that this machine can reach the endpoint',
    });
  }
  if (e.name === 'CredentialsProviderError') {
    return new ConfigError(`no AWS credentials found: ${e.message}`, {
      where,
      fix: 'set [aws] access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_PROFILE',
    });
  }
  if (e.name === 'AccessControlListNotSupported') {
    return new ConfigError(`bucket ${ctx.bucket} does not accept ACLs (Object Ownership is "bucket owner enforced")`, {
      where,
      fix:
        `set \`[aws] acl = none\` and make the objects public with this bucket policy ` +
        `(S3 Block Public Access must allow public bucket policies):\n${publicReadPolicy(ctx.bucket, ctx.prefix)}`,
    });
  }
  if (e.name === 'NoSuchBucket' || (ctx.op === 'HeadBucket' && status === 404)) {
    return new OperationError(`bucket ${ctx.bucket} does not exist`, {
      where,
      fix: 'create it or run raas setup --create',
    });
  }
  if (status === 301 || e.name === 'PermanentRedirect') {
    const actual = e.$response?.headers?.['x-amz-bucket-region'];
    return new OperationError(`bucket ${ctx.bucket} is not in region ${ctx.region}`, {
      where,
      fix: `set [aws] region to the bucket's region${actual ? ` (${actual})` : ''}`,
    });
  }
  if (status === 403) {
    const badKey = code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch';
    return new OperationError(`${ctx.op} is forbidden (${code}) for ${ctx.credentials}`, {
      where,
      fix: badKey
        ? 'check the access key id and secret access key'
        : `grant ${ACTIONS[ctx.op] ?? 'access'} on ${ctx.resource}, or use other credentials`,
    });
  }
  const detail = e.message && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  const statusNote = status && code !== `HTTP ${status}` ? ` (HTTP ${status})` : '';
  return new OperationError(`${ctx.op} failed: ${code}${detail}${statusNote}${tried}`, { where });
}
