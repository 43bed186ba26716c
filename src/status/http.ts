import { sha256Hex, toDigest } from '../image/digest.ts';
import type { ListedObject, Store } from '../storage/store.ts';

/**
 * The requests status makes as a client would: to the registry, which answers with
 * redirects (Crane) or with the object itself (raas serve: manifests, and a file store's
 * blobs), and to the store's public URL, where clients fetch what it redirects to.
 * Only GET and HEAD; nothing is ever written.
 */
const REQUEST_TIMEOUT_MS = 10_000;

export interface Answer {
  readonly status: number | undefined;
  readonly location: string | null;
  readonly body: Buffer;
  /** The whole body was read: false for a HEAD, and for a GET answer larger than the caller wanted to read. */
  readonly complete: boolean;
  /** Content-Length, when the answer gave one. */
  readonly length: number | undefined;
  /** Docker-Content-Digest, when the answer gave one. */
  readonly digest: string | null;
  /** For messages: the status, or why there was none. */
  readonly said: string;
}

/** `maxBody`: a GET answer announcing more bytes is not read (layers). */
export async function request(url: URL | string, method: 'GET' | 'HEAD', signal: AbortSignal, accept?: string, maxBody = Infinity): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method, redirect: 'manual', headers: accept ? { accept } : {},
      signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
    });
    const announced = response.headers.get('content-length');
    const length = announced !== null && /^\d+$/.test(announced) ? Number(announced) : undefined;
    const read = method === 'GET' && (length ?? 0) <= maxBody;
    if (!read) await response.body?.cancel();
    const body = read ? Buffer.from(await response.arrayBuffer()) : Buffer.alloc(0);
    return {
      status: response.status, location: response.headers.get('location'), body, complete: read, length,
      digest: response.headers.get('docker-content-digest'), said: `HTTP ${response.status}`,
    };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: undefined, location: null, body: Buffer.alloc(0), complete: false, length: undefined, digest: null, said: cause?.code ?? (error as Error).message };
  }
}

/** What the object behind a registry path must be, when the registry answers with it instead of a redirect. */
export interface Expected {
  /** "sha256:<hex>" */
  readonly digest?: string | undefined;
  readonly size?: number | undefined;
}

// Manifests and configs are read and hashed; anything larger (a layer) is judged by its headers.
const MAX_HASHED_BYTES = 4 * 1024 * 1024;

/** A 200 answer from the registry: the object itself, checked against what the store holds. */
function servedDirectly(file: string, answer: Answer, expected: Expected): string | undefined {
  const length = answer.complete ? answer.body.length : answer.length;
  if (expected.size !== undefined && length !== expected.size) return `/${file} is served with ${length ?? 'an unknown number of'} bytes, not the ${expected.size} stored`;
  const actual = answer.complete ? toDigest(sha256Hex(answer.body)) : answer.digest;
  if (answer.complete && answer.digest !== null && answer.digest !== actual) return `/${file} is served with Docker-Content-Digest ${answer.digest}, but its bytes are ${actual}`;
  if (expected.digest !== undefined && actual !== expected.digest) return `/${file} is served as ${actual ?? 'an object without a digest'}, but the store holds ${expected.digest}`;
  return undefined;
}

export interface Resolving {
  /** The registry's base URL, ending in "/". */
  readonly registry: string;
  readonly store: Store;
  /** One listing of `listed`, the whole truth about the objects under that prefix. */
  readonly listing: ReadonlyMap<string, ListedObject>;
  readonly listed: string;
  readonly signal: AbortSignal;
}

/**
 * Undefined when the registry redirects `file` (a path under it) to an object that exists,
 * or answers with the object itself as `expected` describes it; otherwise what went wrong.
 */
export async function resolve(ctx: Resolving, file: string, accept?: string, expected: Expected = {}): Promise<string | undefined> {
  const answer = await request(new URL(file, ctx.registry), 'GET', ctx.signal, accept, MAX_HASHED_BYTES);
  if (answer.status === 200) return servedDirectly(file, answer, expected);
  if (!answer.status || answer.status < 300 || answer.status > 399 || !answer.location) return `/${file} answered ${answer.said}, neither the object nor a redirect`;
  const target = new URL(answer.location, ctx.registry).href;
  const root = ctx.store.publicUrl('');
  if (!target.startsWith(root)) {
    // Another party's host (a base layer): ask it, as a client would.
    const head = await request(target, 'HEAD', ctx.signal);
    return head.status === 200 ? undefined : `/${file} redirects to ${target}, which answers ${head.said}`;
  }
  let key: string;
  try {
    // A pre-signed redirect (private bucket) carries its signature in the query.
    key = decodeURIComponent(target.slice(root.length).split('?')[0]!);
  } catch {
    return `/${file} redirects to ${target}, which names no object`;
  }
  // Inside the listed prefix the listing decides; elsewhere, one request.
  const exists = ctx.listing.has(key) || (!key.startsWith(ctx.listed) && (await ctx.store.stat(key)) !== undefined);
  return exists ? undefined : `/${file} redirects to ${target}, which does not exist`;
}

/** Manifests and tag lists are small; anything larger is not one. */
const MAX_READ_BYTES = 4 * 1024 * 1024;

/**
 * The bytes of an object, read where clients read it: the store's public URL, or through
 * the store for a private bucket, which has no public URL clients could read, and for a
 * directory store, whose manifests and blobs raas serve reads from the disk (its public
 * URL, when one is set, is for Crane's v1 redirects; what clients get through the
 * registry is checked by v2-tags). Failing, what went wrong.
 */
export async function readPublished(store: Store, key: string, signal: AbortSignal): Promise<{ bytes: Buffer } | { problem: string }> {
  if (store.access === 'private' || store.kind === 'file') {
    try {
      const got = await store.read(key, { maxBytes: MAX_READ_BYTES });
      return got ? { bytes: got.body } : { problem: `${store.location}${key} does not exist` };
    } catch (error) {
      return { problem: (error as Error).message };
    }
  }
  const url = store.publicUrl(key);
  const answer = await request(url, 'GET', signal);
  return answer.status === 200 ? { bytes: answer.body } : { problem: `${url} answers ${answer.said}` };
}
