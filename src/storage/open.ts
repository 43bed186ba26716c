import type { AwsConfig, IsvConfig } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { createFileStore, type FileStore } from './file.ts';
import type { WriteJournal } from './journal.ts';
import { createS3Store, type S3Store } from './s3.ts';

/** The region S3 requests (and public URLs) use: raas.cfg's, else the SDK's variables, else us-east-1. */
export const storeRegion = (aws: AwsConfig, env: NodeJS.ProcessEnv = process.env): string => aws.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';

/** The store an ISV publishes to, as raas.cfg describes it; raas setup creates what the backend needs. */
export function openStore(isv: IsvConfig, aws: AwsConfig, logger: Logger, journal?: WriteJournal): S3Store | FileStore {
  const { storage } = isv;
  if (storage.kind === 'file') {
    return createFileStore({ root: storage.dir, publicUrl: storage.publicUrl, journal });
  }
  return createS3Store({
    bucket: storage.bucket,
    prefix: aws.prefix,
    // Public URLs are derived from the region, so it is settled here rather than left to the SDK.
    region: storeRegion(aws),
    endpoint: aws.endpoint,
    forcePathStyle: aws.forcePathStyle,
    credentials: aws.credentials,
    // A private bucket is read through pre-signed URLs only: objects get no ACL.
    acl: isv.access === 'private' ? 'none' : aws.acl,
    access: isv.access,
    publicUrl: storage.publicUrl,
    maxConcurrency: aws.maxConcurrency,
    partSize: aws.partSize,
    ...(aws.checksums ? { requestChecksums: aws.checksums === 'when_supported' } : {}),
    requestTimeoutMs: aws.requestTimeoutMs,
    journal,
    logger,
  });
}
