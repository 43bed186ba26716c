import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy on 127.0.0.1 in front of s3rver (path-style requests) that injects the
 * failures S3 clients meet in practice. Each request draws once from a seeded generator,
 * so a run is repeatable for a given order of requests. Host headers pass unchanged, so
 * SigV4 signatures made for the proxy's address still verify upstream.
 */
export const FAULT_KINDS = ['error500', 'error503', 'slowDown', 'reset', 'delay'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultProxyOptions {
  /** The upstream endpoint, "http://127.0.0.1:<port>". */
  readonly target: string;
  /** Probability per request of each fault; they must add up to at most 1. */
  readonly rates?: Partial<Record<FaultKind, number>>;
  readonly seed?: number;
  readonly delayMs?: number;
  /** No transient faults after this many, so a retry storm cannot run away (default 1000). */
  readonly maxFaults?: number;
  /** Requests for keys matching `key` always fail: 403 AccessDenied unless said otherwise. */
  readonly permanent?: readonly { readonly key: RegExp; readonly status?: number; readonly code?: string }[];
  /** The proxy stops by itself after this long (default 120 s). */
  readonly lifetimeMs?: number;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly port: number;
  /** Faults injected so far, by kind, plus permanent errors. */
  readonly injected: Readonly<Record<FaultKind | 'permanent', number>>;
  /** Requests passed upstream (including delayed ones and cut responses). */
  readonly forwarded: number;
  /** How many requests named a key matching `key` (bucket requests have key ""). */
  requests(key: RegExp): number;
  stop(): Promise<void>;
}

const MESSAGES: Record<string, string> = {
  InternalError: 'We encountered an internal error. Please try again.',
  ServiceUnavailable: 'Service is unable to handle your request.',
  SlowDown: 'Please reduce your request rate.',
  AccessDenied: 'Access Denied',
};

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.target);
  const agent = new http.Agent({ keepAlive: true });
  const random = mulberry32(options.seed ?? 1);
  const maxFaults = options.maxFaults ?? 1000;
  const injected = { error500: 0, error503: 0, slowDown: 0, reset: 0, delay: 0, permanent: 0 };
  const keys: string[] = [];
  let forwarded = 0;
  let transient = 0;

  function draw(): FaultKind | undefined {
    const r = random();
    if (transient >= maxFaults) return undefined;
    let sum = 0;
    for (const kind of FAULT_KINDS) {
      sum += options.rates?.[kind] ?? 0;
      if (r < sum) return kind;
    }
    return undefined;
  }

  function fail(req: http.IncomingMessage, res: http.ServerResponse, status: number, code: string): void {
    req.resume();
    req.on('end', () => {
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${MESSAGES[code] ?? code}</Message><RequestId>fault-proxy</RequestId></Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': req.method === 'HEAD' ? 0 : Buffer.byteLength(xml) });
      res.end(req.method === 'HEAD' ? undefined : xml);
    });
  }

  /** Pass the request upstream; with `cut`, drop the connection halfway through the response body. */
  function forward(req: http.IncomingMessage, res: http.ServerResponse, cut = false): void {
    forwarded += 1;
    const proxied = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        const length = Number(answer.headers['content-length'] ?? 0);
        if (!cut) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        } else if (!(length > 1) || req.method === 'HEAD') {
          // No body to cut (a HEAD answer has a length but no body): drop the connection before the answer.
          answer.resume();
          req.socket.destroy();
        } else {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          let left = Math.floor(length / 2);
          answer.on('data', (chunk: Buffer) => {
            if (left <= 0) return;
            res.write(chunk.subarray(0, left));
            left -= Math.min(left, chunk.length);
            if (left <= 0) {
              answer.destroy();
              req.socket.destroy();
            }
          });
        }
      },
    );
    proxied.on('error', () => req.socket.destroy());
    res.on('close', () => {
      if (!res.writableFinished) proxied.destroy();
    });
    req.pipe(proxied);
  }

  /** Drop the connection halfway through the request body, or the response body when there is none. */
  function reset(req: http.IncomingMessage, res: http.ServerResponse): void {
    const length = Number(req.headers['content-length'] ?? 0);
    if (!(length > 0)) return forward(req, res, true);
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= length / 2) req.socket.destroy();
    });
  }

  const server = http.createServer((req, res) => {
    const key = keyOf(req.url ?? '/');
    if (keys.length < 100_000) keys.push(key);
    const permanent = options.permanent?.find((p) => p.key.test(key));
    if (permanent) {
      injected.permanent += 1;
      return fail(req, res, permanent.status ?? 403, permanent.code ?? 'AccessDenied');
    }
    const fault = draw();
    if (fault) {
      injected[fault] += 1;
      transient += 1;
    }
    switch (fault) {
      case 'error500':
        return fail(req, res, 500, 'InternalError');
      case 'error503':
        return fail(req, res, 503, 'ServiceUnavailable');
      case 'slowDown':
        return fail(req, res, 503, 'SlowDown');
      case 'reset':
        return reset(req, res);
      case 'delay':
        setTimeout(() => forward(req, res), options.delayMs ?? 200);
        return;
      default:
        return forward(req, res);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      clearTimeout(timer);
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    });
    return stopped;
  };
  const timer = setTimeout(() => void stop(), options.lifetimeMs ?? 120_000).unref();

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    injected,
    get forwarded() {
      return forwarded;
    },
    requests: (key) => keys.filter((k) => key.test(k)).length,
    stop,
  };
}

/** The object key of a path-style request: "/bucket/a/b?x" -> "a/b". */
function keyOf(url: string): string {
  const [, , ...rest] = new URL(url, 'http://proxy').pathname.split('/');
  return decodeURIComponent(rest.join('/'));
}

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
