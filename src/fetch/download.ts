import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pRetry, { AbortError } from 'p-retry';
import { InputError, OperationError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';

export interface DownloadOptions {
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** Refuse bodies larger than this (a hostile or wrong URL must not fill the disk). */
  readonly maxBytes: number;
  readonly attempts?: number;
  /** Where the URL came from and how to fix it, for the "not found" (HTTP 404 or 410) input error. */
  readonly notFound?: { readonly what: string; readonly where: string; readonly fix: string };
  /** Called once with the expected size (when known), then with each chunk's length. */
  readonly onProgress?: (event: { total?: number; bytes: number }) => void;
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

/**
 * Stream an http(s) URL to `file`, retrying transient failures (network errors, 5xx, 429)
 * with backoff; a 4xx other than 429 is final. The size is checked against Content-Length
 * so a connection cut short is retried rather than read as a truncated archive.
 */
export async function download(source: string, file: string, options: DownloadOptions): Promise<number> {
  const shown = scrub(source);
  const { url, headers } = splitCredentials(new URL(source));
  const attempt = async (): Promise<number> => {
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: options.signal ?? null, redirect: 'follow' });
    } catch (error) {
      if (options.signal?.aborted) throw new AbortError(error as Error);
      throw new OperationError(`cannot download ${shown}: ${scrub(String((error as Error).cause ?? error))}`);
    }
    if ((response.status === 404 || response.status === 410) && options.notFound) {
      await response.body?.cancel();
      const { what, where, fix } = options.notFound;
      throw new AbortError(new InputError(`${what} not found: ${shown} answered HTTP ${response.status}`, { where, fix }));
    }
    if (!response.ok || !response.body) {
      const failure = new OperationError(`cannot download ${shown}: HTTP ${response.status} ${response.statusText}`, {
        fix: response.status === 404 ? 'check the image name and [pulp] export_url, or pass --file' : undefined,
      });
      await response.body?.cancel();
      throw response.status >= 500 || response.status === 429 ? failure : new AbortError(failure);
    }
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > options.maxBytes) {
      await response.body.cancel();
      throw new AbortError(new OperationError(`${shown} is ${declared} bytes, more than the limit of ${options.maxBytes}`));
    }
    options.onProgress?.({ total: Number.isFinite(declared) ? declared : undefined, bytes: 0 });
    let received = 0;
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
    await pipeline(Readable.fromWeb(response.body), meter, createWriteStream(file), { signal: options.signal });
    if (Number.isFinite(declared) && received !== declared) {
      throw new OperationError(`download of ${shown} ended after ${received} of ${declared} bytes`);
    }
    return received;
  };

  try {
    return await pRetry(attempt, {
      retries: (options.attempts ?? 4) - 1,
      minTimeout: 500,
      factor: 2,
      randomize: true,
      signal: options.signal,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft > 0) options.logger.warn(`download attempt ${attemptNumber} failed (${scrub(error.message)}); retrying`);
      },
    });
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}
