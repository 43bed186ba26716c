import type http from 'node:http';
import { combineRanges, parse as parseRange, type Range } from 'range-parser';
import type { Backend } from './backend.ts';
import { API_VERSION, redirect, v2Error, type Reply } from './reply.ts';

/**
 * A blob of a repository in the ISV's store. A directory store's blob is streamed from the
 * disk (GET and HEAD, single byte ranges, If-None-Match), never read whole; a bucket's is a
 * redirect: to the public URL (what Crane does), or for a private bucket to a URL
 * pre-signed for GET. HEAD is answered from the store's metadata for both: a HEAD sent to
 * a URL signed for GET fails.
 */
const BLOB_TYPE = 'application/octet-stream';

export async function blobReply(backend: Backend, key: string, digest: string, publicUrl: string, request: http.IncomingMessage): Promise<Reply> {
  const head = request.method === 'HEAD';
  if (backend.store.kind === 's3' && !head) {
    // 307, as the stock registry answers with pre-signed URLs (a 302 might be followed with another method).
    if (backend.store.access === 'private' && backend.store.presign) return redirect(await backend.store.presign(key, backend.presignSeconds), 307);
    return redirect(publicUrl);
  }
  const info = await backend.store.stat(key);
  if (!info) return v2Error('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  const headers: Record<string, string> = {
    ...API_VERSION, 'Content-Type': BLOB_TYPE, 'Docker-Content-Digest': digest, ETag: `"${digest}"`, 'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
  const etag = `"${digest}"`;
  const match = request.headers['if-none-match'];
  if (match && match.split(',').some((m) => m.trim() === etag || m.trim() === '*')) return { status: 304, headers, body: '' };
  const one = backend.store.kind === 'file' && request.headers.range ? singleRange(info.size, request.headers.range) : undefined;
  if (one === 'unsatisfiable') return { status: 416, headers: { ...API_VERSION, 'Content-Range': `bytes */${info.size}` }, body: '' };
  if (one) {
    headers['Content-Range'] = `bytes ${one.start}-${one.end}/${info.size}`;
    headers['Content-Length'] = String(one.end - one.start + 1);
  } else {
    headers['Content-Length'] = String(info.size);
  }
  const status = one ? 206 : 200;
  if (head || info.size === 0) return { status, headers, body: '' };
  const stream = await backend.store.openRead(key, one);
  if (!stream) return v2Error('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  return { status, headers, body: stream };
}

/**
 * The one byte range a Range header asks for; undefined for a header to ignore (malformed,
 * another unit, several ranges: RFC 9110 lets a server answer those with the whole blob).
 */
function singleRange(size: number, header: string): Range | 'unsatisfiable' | undefined {
  const parsed = parseRange(size, header);
  if (parsed.type !== 'bytes' || (parsed.code & 1) !== 0) return undefined;
  if (parsed.ranges.length === 0) return (parsed.code & 2) !== 0 ? 'unsatisfiable' : undefined;
  const ranges = combineRanges(parsed.ranges);
  return ranges.length === 1 ? { start: ranges[0]!.start, end: ranges[0]!.end } : undefined;
}
