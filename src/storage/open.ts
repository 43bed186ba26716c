import type { AwsConfig, IsvConfig } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { createFileStore } from './file.ts';
import { createS3Store } from './s3.ts';
import type { Store } from './store.ts';

/** The store an ISV publishes to, as raas.cfg describes it. */
export function openStore(isv: IsvConfig, aws: AwsConfig, logger: Logger): Store {
  const { storage } = isv;
  if (storage.kind === 'file') return createFileStore({ root: storage.dir, publicUrl: storage.publicUrl });
  return createS3Store({
    bucket: storage.bucket,
    prefix: aws.prefix,
    // Public URLs are derived from the region, so it is settled here rather than left to the SDK.
    region: aws.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint: aws.endpoint,
    forcePathStyle: aws.forcePathStyle,
    credentials: aws.credentials,
    acl: aws.acl,
    publicUrl: storage.publicUrl,
    maxConcurrency: aws.maxConcurrency,
    logger,
  });
}
