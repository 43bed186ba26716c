import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { AwsConfig } from '../config/config.ts';
import type { FileStore } from '../storage/file.ts';
import { publicReadPolicy, type S3Store } from '../storage/s3.ts';
import { clientsCanFetch } from '../layout/layout.ts';
import type { SetupStep } from './steps.ts';

export type SetupStore = S3Store | FileStore;

const PROBE_TIMEOUT_MS = 10_000;

export const storageName = (store: SetupStore): string => ('bucket' in store ? `bucket ${store.bucket}` : `storage directory ${store.root}`);

/** Whether the bucket or directory exists; reads only. */
export async function storageExists(store: SetupStore): Promise<boolean> {
  if ('bucket' in store) return store.bucketExists();
  return stat(store.root).then((s) => s.isDirectory(), () => false);
}

export async function createStorage(store: SetupStore): Promise<void> {
  if ('bucket' in store) await store.createBucket();
  else await store.ensure();
}

/** Writes and removes a probe object: push can write the store (a stock registry reads it through its driver). */
export async function checkWritable(store: SetupStore, signal: AbortSignal): Promise<SetupStep> {
  const key = `raas-setup-probe-${randomBytes(6).toString('hex')}`;
  await store.put(key, Buffer.from('raas setup probe\n'), { contentType: 'text/plain', signal });
  await store.delete(key);
  return { step: 'write access', status: 'ok', detail: 'a probe object was written and removed' };
}

/**
 * Writes a probe object the way push writes layers (with the configured ACL), fetches it
 * from its public URL without credentials, as a registry client will, and removes it: the
 * store is writable, and clients can read what raas writes, or the step says what to change.
 */
export async function checkClientAccess(store: SetupStore, aws: AwsConfig, signal: AbortSignal): Promise<SetupStep> {
  const step = 'client read access';
  const key = `raas-setup-probe-${randomBytes(6).toString('hex')}`;
  await store.put(key, Buffer.from('raas setup probe\n'), { contentType: 'text/plain', signal });
  try {
    const url = store.publicUrl(key);
    if (!clientsCanFetch(url)) {
      return {
        step, status: 'warning',
        detail: `writable; clients are sent to ${store.publicUrl('')}, which only this machine can read`,
        fix: 'set public_url in the ISV section to where a web server publishes the storage directory',
      };
    }
    const answer = await anonymousGet(url, signal);
    const how = 'bucket' in store ? (aws.acl === 'public-read' ? 'every object gets ACL public-read' : 'the bucket policy grants it (acl = none)') : 'the web server publishes the directory';
    if (answer === 200) return { step, status: 'ok', detail: `writable; an anonymous GET of a probe object answered 200 (${how})` };
    return { step, status: 'failed', detail: `writable, but an anonymous GET of ${url} answered ${answer}: registry clients cannot fetch layers`, fix: accessFix(store, aws) };
  } finally {
    await store.delete(key);
  }
}

async function anonymousGet(url: string, signal: AbortSignal): Promise<string | number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]) });
    await response.body?.cancel();
    return response.status;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code ?? (error as Error).message;
  }
}

function accessFix(store: SetupStore, aws: AwsConfig): string {
  if (!('bucket' in store)) return 'publish the storage directory at public_url with a web server';
  const policy = publicReadPolicy(store.bucket, store.prefix);
  if (aws.acl === 'none') return `apply this bucket policy (aws s3api put-bucket-policy), then run setup again:\n${policy}`;
  return `the bucket ignores or blocks public ACLs: allow them (S3 Block Public Access), or set [aws] acl = none and apply this bucket policy:\n${policy}`;
}
