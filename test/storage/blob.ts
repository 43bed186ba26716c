import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Blob } from '../../src/image/model.ts';

/** A Blob over a Buffer, streamed in `chunkSize` pieces like a file would be. */
export function bufferBlob(data: Buffer, chunkSize = 64 * 1024): Blob {
  return {
    size: data.length,
    open(start = 0, end = data.length) {
      const pieces: Buffer[] = [];
      for (let at = start; at < end; at += chunkSize) pieces.push(data.subarray(at, Math.min(at + chunkSize, end)));
      return Readable.from(pieces);
    },
  };
}

/** A Blob over a whole file, read by range like an archive member. */
export function fileBlob(file: string, size: number): Blob {
  return {
    size,
    open(start = 0, end = size) {
      return end > start ? createReadStream(file, { start, end: end - 1 }) : Readable.from([]);
    },
  };
}

/** Write `size` random bytes to `file`; returns their hex sha256. */
export async function randomFile(file: string, size: number): Promise<string> {
  const data = randomBytes(size);
  await writeFile(file, data);
  return sha256(data);
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
