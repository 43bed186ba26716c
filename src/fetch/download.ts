import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import type { ReadableStream as WebStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import pRetry, { AbortError } from 'p-retry';
import type { DownloadTimeouts } from '../config/config.ts';
import { isNoSpace, noSpaceError } from '../disk-space.ts';
import { InputError, OperationError, RaasError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';

/** What a download may wait for when raas.cfg says nothing ([pulp] connect_timeout, stall_timeout). */
export const DEFAULT_TIMEOUTS: DownloadTimeouts = { connectMs: 30_000, stallMs: 60_000 };

export interface DownloadOptions {
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** Refuse bodies larger than this (a hostile or wrong URL must not fill the disk). */
  readonly maxBytes: number;
  readonly attempts?: number;
  readonly timeouts?: DownloadTimeouts;
  /** Where the URL came from and how to fix it, for the "not found" (HTTP 404 or 410) input error. */
  readonly notFound?: NotFound;
  /** Called once with the expected size (when known), then with each chunk's length. */
  readonly onProgress?: (event: { total?: number; bytes: number }) => void;
}

export interface NotFound {
  readonly what: string;
  readonly where: string;
  readonly fix: string;
}

/** Node's fetch refuses URLs with credentials; they become a Basic authorization header. */
function splitCredentials(url: URL): { url: URL; headers: Record<string, string> } {
  if (!url.username && !url.password) return { url, headers: {} };
  const plain = new URL(url);
  const auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  plain.username = '';
  plain.password = '';
  return { url: plain, headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } };
}

const seconds = (ms: number): string => `${ms / 1000} s`;

/** One attempt's response, with its body as a stream that fails when the server falls silent. */
interface Opened {
  readonly response: Response;
  readonly body: Readable;
  /** Content-Length, when the server gave one. */
  readonly declared: number | undefined;
}

/**
 * Servers are untrusted: one that never answers, or stops sending halfway, must not hold
 * raas for ever. The response headers must arrive within `connectMs`, and the body may
 * pause at most `stallMs` between chunks; either breach is an error another attempt may
 * cure. `what` names the download in messages (the URL, query values redacted by scrub).
 */
async function openUrl(source: string, what: string, timeouts: DownloadTimeouts, signal: AbortSignal | undefined, notFound?: NotFound): Promise<Opened> {
  const { url, headers } = splitCredentials(new URL(source));
  const watchdog = new AbortController();
  let breach: string | undefined;
  const trip = (reason: string) => () => {
    breach = reason;
    watchdog.abort(new Error(reason));
  };
  let timer = setTimeout(trip(`no answer from ${what} within ${seconds(timeouts.connectMs)} (limit [pulp] connect_timeout)`), timeouts.connectMs);
  const both = signal ? AbortSignal.any([signal, watchdog.signal]) : watchdog.signal;
  const failed = (error: unknown): never => {
    clearTimeout(timer);
    if (signal?.aborted) throw new AbortError((signal.reason as Error) ?? (error as Error));
    if (breach) throw new OperationError(breach, { fix: 'check that the server is up; raise the limit if it is only slow' });
    if (error instanceof RaasError || error instanceof AbortError) throw error;
    throw new OperationError(`cannot download ${what}: ${scrub(String((error as Error).cause ?? error))}`);
  };
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: both, redirect: 'follow' });
  } catch (error) {
    return failed(error);
  }
  clearTimeout(timer);
  if ((response.status === 404 || response.status === 410) && notFound) {
    await response.body?.cancel().catch(() => {});
    // Like a missing local path: the input is wrong (exit 2), and nothing was touched.
    throw new AbortError(new InputError(`${notFound.what} not found: ${what} answered HTTP ${response.status}`, { where: notFound.where, fix: notFound.fix }));
  }
  if (!response.ok || !response.body) {
    const failure = new OperationError(`cannot download ${what}: HTTP ${response.status} ${response.statusText}`, {
      fix: response.status === 404 ? 'check the image name and [pulp] export_url, or pass --file' : undefined,
    });
    await response.body?.cancel().catch(() => {});
    throw response.status >= 500 || response.status === 429 ? failure : new AbortError(failure);
  }
  const stalled = trip(`${what} sent nothing for ${seconds(timeouts.stallMs)} (limit [pulp] stall_timeout)`);
  const webBody = Readable.fromWeb(response.body as WebStream<Uint8Array>);
  const guarded = async function* (): AsyncGenerator<Buffer> {
    timer = setTimeout(stalled, timeouts.stallMs);
    try {
      for await (const chunk of webBody) {
        clearTimeout(timer);
        timer = setTimeout(stalled, timeouts.stallMs);
        yield chunk as Buffer;
      }
    } catch (error) {
      failed(error);
    } finally {
      clearTimeout(timer);
    }
  };
  const length = response.headers.get('content-length');
  const declared = length === null ? Number.NaN : Number(length);
  return { response, body: Readable.from(guarded(), { objectMode: false }), declared: Number.isFinite(declared) ? declared : undefined };
}

const retryOptions = (options: { attempts: number; signal?: AbortSignal; logger?: Logger; minTimeout: number }) => ({
  retries: options.attempts - 1,
  minTimeout: options.minTimeout,
  factor: 2,
  randomize: true,
  signal: options.signal,
  onFailedAttempt: ({ error, attemptNumber, retriesLeft }: { error: Error; attemptNumber: number; retriesLeft: number }) => {
    if (retriesLeft > 0) options.logger?.warn(`download attempt ${attemptNumber} failed (${scrub(error.message)}); retrying`);
  },
});

/**
 * Stream an http(s) URL to `file`, retrying transient failures (network errors, timeouts,
 * 5xx, 429) with backoff; a 4xx other than 429 is final. The size is checked against
 * Content-Length so a connection cut short is retried rather than read as a truncated
 * archive.
 */
export async function download(source: string, file: string, options: DownloadOptions): Promise<number> {
  const shown = scrub(source);
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  let received = 0;
  const attempt = async (): Promise<number> => {
    const { body, declared } = await openUrl(source, shown, timeouts, options.signal, options.notFound);
    if (declared !== undefined && declared > options.maxBytes) {
      body.destroy();
      throw new AbortError(new OperationError(`${shown} is ${declared} bytes, more than the limit of ${options.maxBytes}`));
    }
    options.onProgress?.({ total: declared, bytes: 0 });
    received = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > options.maxBytes) {
          done(new AbortError(new OperationError(`${shown} is larger than the limit of ${options.maxBytes} bytes`)));
          return;
        }
        options.onProgress?.({ bytes: chunk.length });
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(file), { signal: options.signal });
    } catch (error) {
      if (isNoSpace(error)) throw new AbortError(noSpaceError(path.dirname(file), `downloading ${shown}`, received, error));
      throw error;
    }
    if (declared !== undefined && received !== declared) {
      throw new OperationError(`download of ${shown} ended after ${received} of ${declared} bytes`);
    }
    return received;
  };

  try {
    return await pRetry(attempt, retryOptions({ attempts: options.attempts ?? 4, signal: options.signal, logger: options.logger, minTimeout: 500 }));
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}

/**
 * The body of a small document (base-image metadata) at `source`, read with a cap while
 * it streams: never more than `maxBytes` is held, however much the server sends.
 */
export async function fetchText(
  source: string,
  options: { readonly maxBytes: number; readonly signal?: AbortSignal; readonly timeouts?: DownloadTimeouts; readonly logger?: Logger; readonly what: string },
): Promise<string> {
  const shown = scrub(source);
  const what = `${options.what} ${shown}`;
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const attempt = async (): Promise<string> => {
    const { body, declared } = await openUrl(source, what, timeouts, options.signal);
    const tooLarge = () => new AbortError(new OperationError(`${what} is larger than the limit of ${options.maxBytes} bytes`, { fix: 'check the URL: base-image metadata is a small Crane redirect file' }));
    if (declared !== undefined && declared > options.maxBytes) {
      body.destroy();
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    await pipeline(
      body,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (size > options.maxBytes) return done(tooLarge());
          chunks.push(chunk);
          done();
        },
      }),
      { signal: options.signal },
    );
    return Buffer.concat(chunks).toString('utf8');
  };
  return pRetry(attempt, retryOptions({ attempts: 4, signal: options.signal, logger: options.logger, minTimeout: 300 }));
}
