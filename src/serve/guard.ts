/**
 * The first look at a request target, before any route sees it: bounded, absolute,
 * decodable, and without a segment that could step out of a path or into a header
 * (control characters, CR/LF, "." and "..", encoded "/" or "\"), raw or percent-encoded.
 * Node's parser already refuses raw control characters in the request line.
 */
export const MAX_URL_LENGTH = 4096;

export type Target =
  | { readonly ok: true; readonly segments: readonly string[]; readonly query: URLSearchParams; readonly path: string }
  | { readonly ok: false; readonly status: 400 | 414; readonly reason: string };

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f/\\]/;

export function parseTarget(raw: string | undefined): Target {
  if (raw === undefined || !raw.startsWith('/')) return { ok: false, status: 400, reason: 'the request target is not an absolute path' };
  if (raw.length > MAX_URL_LENGTH) return { ok: false, status: 414, reason: `the request target is longer than ${MAX_URL_LENGTH} characters` };
  const cut = raw.indexOf('?');
  const rawPath = cut < 0 ? raw : raw.slice(0, cut);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(raw)) return { ok: false, status: 400, reason: 'the request target contains control characters' };
  const segments: string[] = [];
  for (const encoded of rawPath.slice(1).split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(encoded);
    } catch {
      return { ok: false, status: 400, reason: 'the path has a malformed percent-encoding' };
    }
    if (UNSAFE.test(segment)) return { ok: false, status: 400, reason: 'a path segment contains a control character, "/" or "\\"' };
    if (segment === '.' || segment === '..') return { ok: false, status: 400, reason: 'the path contains a "." or ".." segment' };
    segments.push(segment);
  }
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(cut < 0 ? '' : raw.slice(cut + 1));
  } catch {
    return { ok: false, status: 400, reason: 'the query is malformed' };
  }
  return { ok: true, segments, query, path: `/${segments.join('/')}` };
}

/** A repository name component of the distribution spec (lower-case, separators between alphanumerics). */
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
export const isValidName = (segments: readonly string[]): boolean =>
  segments.length > 0 && segments.join('/').length <= 255 && segments.every((s) => NAME_COMPONENT.test(s));

export const isTag = (ref: string): boolean => /^[\w][\w.-]{0,127}$/.test(ref);
export const isSha256Digest = (ref: string): boolean => /^sha256:[0-9a-f]{64}$/.test(ref);
/** Looks like a digest (algorithm:encoded) rather than a tag, which cannot hold ":". */
export const looksLikeDigest = (ref: string): boolean => ref.includes(':');
