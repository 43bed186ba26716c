import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ListedObject, Store } from '../storage/store.ts';

/**
 * The requests status makes as a client would: to the registry, which answers with
 * redirects, and to the store's public URL, where clients fetch what it redirects to.
 * Only GET and HEAD; nothing is ever written.
 */
const REQUEST_TIMEOUT_MS = 10_000;

export interface Answer {
  readonly status: number | undefined;
  readonly location: string | null;
  readonly body: Buffer;
  /** For messages: the status, or why there was none. */
  readonly said: string;
}

export async function request(url: URL | string, method: 'GET' | 'HEAD', signal: AbortSignal, accept?: string): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method, redirect: 'manual', headers: accept ? { accept } : {},
      signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
    });
    const body = method === 'GET' ? Buffer.from(await response.arrayBuffer()) : Buffer.alloc(0);
    return { status: response.status, location: response.headers.get('location'), body, said: `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: undefined, location: null, body: Buffer.alloc(0), said: cause?.code ?? (error as Error).message };
  }
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

/** Undefined when the registry redirects `file` (a path under it) to an object that exists; otherwise what went wrong. */
export async function resolve(ctx: Resolving, file: string, accept?: string): Promise<string | undefined> {
  const answer = await request(new URL(file, ctx.registry), 'GET', ctx.signal, accept);
  if (!answer.status || answer.status < 300 || answer.status > 399 || !answer.location) return `/${file} answered ${answer.said}, not a redirect`;
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
 * The bytes of an object, read where clients read it: the store's public URL (a file URL,
 * for a directory store without one, is read from the disk), or through the store for a
 * private bucket, which has no public URL clients could read. Failing, what went wrong.
 */
export async function readPublished(store: Store, key: string, signal: AbortSignal): Promise<{ bytes: Buffer } | { problem: string }> {
  if (store.access === 'private') {
    try {
      const got = await store.read(key, { maxBytes: MAX_READ_BYTES });
      return got ? { bytes: got.body } : { problem: `${store.location}${key} does not exist` };
    } catch (error) {
      return { problem: (error as Error).message };
    }
  }
  const url = store.publicUrl(key);
  if (url.startsWith('file:')) {
    try {
      return { bytes: await readFile(fileURLToPath(url), { signal }) };
    } catch (error) {
      return { problem: `${url} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
    }
  }
  const answer = await request(url, 'GET', signal);
  return answer.status === 200 ? { bytes: answer.body } : { problem: `${url} answers ${answer.said}` };
}
