import { InputError } from '../errors.ts';

/**
 * Keys come from repository names, tags and ids, some of them out of archives, so both
 * backends apply the same rules: a key that is safe as an S3 key is also safe as a path
 * under the storage directory. Segments starting with "." are reserved for the file
 * store's bookkeeping (checksum sidecars, partial writes); that also rules out "." and "..".
 */
const BAD_SEGMENT = /^\.|[\\\u0000-\u001f\u007f]/;

function safeSegments(segments: readonly string[]): boolean {
  return segments.every((s) => s !== '' && !BAD_SEGMENT.test(s));
}

/**
 * Why `key` is not a safe key (or key prefix, without its final "/"), or undefined. With
 * path-style addressing a ".." segment in a key leaves the bucket (`../other/x` is bucket
 * `other`), so no segment may be ".", "..", empty (a leading "/" included) or hold "\\".
 */
export function keyProblem(key: string): string | undefined {
  return safeSegments(key.split('/')) ? undefined : 'keys are relative, with non-empty segments that do not start with "." and hold no "\\" or control characters';
}

export function checkKey(key: string, where: string): void {
  const problem = keyProblem(key);
  if (problem) throw new InputError(`unsafe object key ${JSON.stringify(key)}`, { where, fix: problem });
}

/** A listing prefix: "" or a key, optionally ending with "/". */
export function checkPrefix(prefix: string, where: string): void {
  if (prefix !== '') checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, where);
}

/** "a/b/" for "a/b", "/a/b/" or "a/b/"; "" stays "". A prefix that is no safe key is refused (keyProblem). */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/$/g, '');
  if (trimmed === '') return '';
  checkKey(trimmed, 'key prefix');
  return `${trimmed}/`;
}

/** Percent-encode each segment of a key for use in a URL path, keeping the slashes. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
