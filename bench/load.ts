import http from 'node:http';

/**
 * A bounded HTTP load client: `concurrency` clients on keep-alive connections, each sending
 * its next request as soon as the previous answer has been read to the end, until the time
 * or the request count runs out. Every answer is checked (status, and the byte count a GET
 * must carry), so a server answering fast with errors cannot look good. Written here rather
 * than taken from wrk because wrk cannot send HEAD requests: it waits for the body a HEAD
 * answer's Content-Length announces. 127.0.0.1 only, like everything the bench starts.
 */
export interface LoadRequest {
  readonly method: 'GET' | 'HEAD';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The body's length, which a GET must deliver and a HEAD must announce. */
  readonly length: number;
}

export interface LoadOptions {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** Sent in turn: client i starts at request i and takes every one after it. */
  readonly requests: readonly LoadRequest[];
  readonly concurrency: number;
  readonly durationMs: number;
  readonly maxRequests: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly durationMs: number;
  /** Body bytes received. */
  readonly bytes: number;
  readonly perSecond: number;
  readonly bytesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

const REQUEST_TIMEOUT_MS = 30_000;

function once(agent: http.Agent, base: URL, request: LoadRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const sent = http.request(new URL(request.path, base), { agent, method: request.method, headers: request.headers, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      response.on('error', reject);
      response.on('end', () => {
        const announced = Number(response.headers['content-length']);
        if (response.statusCode !== 200) reject(new Error(`${request.method} ${request.path} answered ${response.statusCode}`));
        else if (request.method === 'GET' && bytes !== request.length) reject(new Error(`GET ${request.path} delivered ${bytes} bytes, not ${request.length}`));
        else if (announced !== request.length) reject(new Error(`${request.method} ${request.path} announced Content-Length ${response.headers['content-length']}, not ${request.length}`));
        else resolve(bytes);
      });
    });
    sent.on('timeout', () => sent.destroy(new Error(`${request.method} ${request.path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    sent.on('error', reject);
    sent.end();
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs the load; the first wrong answer ends it with that answer as the error. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const base = new URL(options.base);
  if (base.hostname !== '127.0.0.1') throw new Error(`the load client only talks to 127.0.0.1, not ${base.hostname}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const latencies = new Float64Array(options.maxRequests);
  let count = 0;
  let bytes = 0;
  let failure: Error | undefined;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const client = async (first: number): Promise<void> => {
    for (let i = first; failure === undefined && count < options.maxRequests && performance.now() < deadline; i += options.concurrency) {
      const request = options.requests[i % options.requests.length]!;
      const t0 = performance.now();
      let got: number;
      try {
        got = await once(agent, base, request);
      } catch (error) {
        failure ??= error as Error;
        return;
      }
      bytes += got;
      if (count < options.maxRequests) latencies[count++] = performance.now() - t0;
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, (_, i) => client(i)));
  } finally {
    agent.destroy();
  }
  if (failure) throw failure;
  const durationMs = performance.now() - started;
  const sorted = latencies.subarray(0, count).sort();
  return {
    requests: count, durationMs, bytes,
    perSecond: count / (durationMs / 1000), bytesPerSecond: bytes / (durationMs / 1000),
    p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99),
  };
}
