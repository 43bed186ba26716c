import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

/** s3rver checks SigV4 signatures against this pair (and answers 403 to any other). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

export interface S3Server {
  /** "http://127.0.0.1:<port>"; use with forcePathStyle. */
  readonly endpoint: string;
  readonly port: number;
  readonly credentials: typeof S3RVER_CREDENTIALS;
  readonly region: 'us-east-1';
  /** A client for preparing and inspecting buckets, talking to s3rver directly. */
  readonly client: S3Client;
  /** Create a bucket and return its name. */
  bucket(name: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * s3rver in this process on 127.0.0.1, storing under a temporary directory.
 *
 * Quirks, with s3rver 3.7.1 on Node 24 and the current SDK:
 * - ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3 only has in its
 *   legacy provider: every truncated listing answered 500. enableDes() below fixes that.
 * - AbortMultipartUpload answers 405 and ListMultipartUploads 501: aborted uploads leave
 *   their parts in s3rver's directory (never visible as objects).
 * - A stream body sent with the SDK's default checksums arrives aws-chunked and is stored
 *   with the chunk framing; the store signs its own sha256 and sends no checksum to
 *   custom endpoints, so what it sends is stored as sent.
 * - Neither the signed payload hash nor the length is checked: a body cut short is stored
 *   as far as it arrived (the store removes such an object; see removeCutShort).
 * - Signatures are checked: other credentials get 403 InvalidAccessKeyId (HEAD: bare 403).
 * - ACLs are accepted and ignored.
 */
export async function startS3(): Promise<S3Server> {
  enableDes();
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'raas-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  return {
    endpoint,
    port,
    credentials: S3RVER_CREDENTIALS,
    region: 'us-east-1',
    client,
    async bucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async stop() {
      client.destroy();
      const closing = server.close();
      server.httpServer?.closeAllConnections();
      await closing;
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

let desEnabled = false;

/**
 * Single DES is two-key triple DES with both keys equal, which OpenSSL 3 still has by
 * default; only s3rver asks for "des" in a test process.
 */
function enableDes(): void {
  if (desEnabled) return;
  desEnabled = true;
  const { createCipheriv, createDecipheriv } = crypto;
  const ede = (algorithm: string, key: crypto.CipherKey): [string, crypto.CipherKey] =>
    algorithm === 'des' && Buffer.isBuffer(key) ? ['des-ede-cbc', Buffer.concat([key, key])] : [algorithm, key];
  const patched = crypto as unknown as Record<string, unknown>;
  patched.createCipheriv = (algorithm: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null, options?: never) =>
    createCipheriv(...ede(algorithm, key), iv, options);
  patched.createDecipheriv = (algorithm: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null, options?: never) =>
    createDecipheriv(...ede(algorithm, key), iv, options);
}
