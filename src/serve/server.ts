import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pino from 'pino';
import type { Logger } from '../log.ts';
import type { Store } from '../storage/store.ts';
import type { Backend } from './backend.ts';
import type { CraneData } from './data.ts';
import { parseTarget } from './guard.ts';
import { ManifestCache } from './manifests.ts';
import { API_VERSION, json, plainError, v2Error, type Reply } from './reply.ts';
import type { DataSource } from './source.ts';
import { v1Reply } from './v1.ts';
import { v2Reply } from './v2.ts';

/**
 * raas serve's HTTP server: one read-only registry for one ISV. Every request is
 * answered (never an uncaught exception): the target is checked first (guard.ts), then
 * routed to Crane's v1 API, the v2 API or raas's readiness answer. Clients that are slow
 * to send or idle too long are dropped; closing stops accepting, lets requests in flight
 * finish for a bounded time, then closes what is left.
 */
export interface ServerOptions {
  readonly source: DataSource;
  /** The ISV's store; without one every v2 request is a redirect, as Crane answers. */
  readonly store?: { readonly store: Store; readonly presignSeconds: number };
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly logger?: Logger;
  /** How long close() waits for requests in flight. Default 5 s. */
  readonly graceMs?: number;
  /** Tighter limits than LIMITS (tests of slow and idle clients). */
  readonly limits?: Partial<Limits>;
}

export interface Limits {
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  readonly maxHeaderSize: number;
  /** No traffic either way for this long closes the socket (a client that stopped reading a blob). */
  readonly idleSocketMs: number;
  /** How often Node checks the request timeouts. */
  readonly connectionsCheckingInterval: number;
}

export interface RegistryServer {
  /** `http://host:port`, without a final "/". */
  readonly url: string;
  close(): Promise<void>;
}

export const READY_PATH = '/_raas/ready';
const EMPTY: CraneData = { v1: new Map(), images: new Map(), v2: new Map() };

/** Node's limits, set explicitly: headers in 10 s, a whole request in 30 s, idle keep-alive 5 s, 16 KiB of headers, 60 s without traffic. */
const LIMITS: Limits = {
  headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024, idleSocketMs: 60_000, connectionsCheckingInterval: 2_000,
};
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

async function route(options: ServerOptions, backend: Backend | undefined, request: http.IncomingMessage): Promise<Reply> {
  const target = parseTarget(request.url);
  const v2 = request.url?.startsWith('/v2/') || request.url === '/v2';
  if (!target.ok) return v2 ? { ...v2Error('NAME_INVALID', target.reason), status: target.status } : plainError(target.status, target.reason);
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    const allow = { Allow: 'GET, HEAD' };
    return v2 || WRITE_METHODS.has(request.method ?? '')
      ? v2Error('UNSUPPORTED', `this registry is read-only: ${request.method} is not supported`, undefined, allow)
      : { ...plainError(405, 'Method Not Allowed'), headers: { ...plainError(405, '').headers, ...allow } };
  }
  const snapshot = options.source.current();
  const [first, ...rest] = target.segments;
  if (target.path === READY_PATH) {
    return snapshot
      ? json(200, { ready: true, source: snapshot.source, commit: snapshot.commit, repositories: snapshot.repositories })
      : json(503, { ready: false, source: options.source.kind, commit: null, repositories: 0 });
  }
  if (first !== 'v1' && first !== 'v2') return plainError(404, 'Not Found');
  if (first === 'v2' && rest.length <= 1 && (rest[0] ?? '') === '') return json(200, {}, { ...API_VERSION });
  if (first === 'v1' && rest.length === 1 && rest[0] === '_ping') return v1Reply(snapshot?.data ?? EMPTY, rest, request);
  if (!snapshot) return first === 'v2' ? v2Error('UNAVAILABLE', 'the registry has not loaded its data yet', undefined, { 'Retry-After': '1' }) : plainError(503, 'Service Unavailable');
  if (first === 'v1') return v1Reply(snapshot.data, rest, request);
  return v2Reply({ snapshot, backend, segments: rest, query: target.query, request });
}

/** Printable for a log line: the raw target, control characters escaped. */
// eslint-disable-next-line no-control-regex
const printable = (text: string | undefined): string => (text ?? '').slice(0, 512).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

async function answer(options: ServerOptions, backend: Backend | undefined, log: Logger, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const started = process.hrtime.bigint();
  let bytes = '-';
  response.once('close', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    log.info({ method: request.method, url: printable(request.url), status: response.statusCode, bytes, ms, remote: request.socket.remoteAddress, complete: response.writableFinished },
      `${request.socket.remoteAddress ?? '-'} "${request.method} ${printable(request.url)}" ${response.statusCode} ${bytes} ${ms.toFixed(1)}ms${response.writableFinished ? '' : ' (aborted)'}`);
  });
  let reply: Reply;
  try {
    reply = await route(options, backend, request);
  } catch (error) {
    log.error({ err: error, url: printable(request.url) }, `cannot answer ${request.method} ${printable(request.url)}: ${(error as Error).message}`);
    reply = request.url?.startsWith('/v2/') ? v2Error('INTERNAL', 'the registry could not answer this request') : plainError(500, 'Internal Server Error');
  }
  const { body } = reply;
  const headers: Record<string, string> = { ...reply.headers };
  if (!(body instanceof Readable) && headers['Content-Length'] === undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
  if (response.headersSent || response.destroyed) {
    if (body instanceof Readable) body.destroy();
    return;
  }
  response.writeHead(reply.status, headers);
  if (request.method !== 'HEAD') bytes = headers['Content-Length'] ?? '-';
  if (request.method === 'HEAD' || reply.status === 304) {
    if (body instanceof Readable) body.destroy();
    response.end();
    return;
  }
  if (!(body instanceof Readable)) {
    response.end(body);
    return;
  }
  try {
    await pipeline(body, response);
  } catch (error) {
    // The client went away, or the store failed mid-stream: the length promised cannot be kept, so the connection goes.
    if (!response.destroyed) response.destroy();
    log.debug({ err: error }, 'blob stream ended early');
  }
}

export async function startServer(options: ServerOptions): Promise<RegistryServer> {
  const log = options.logger ?? pino({ level: 'silent' });
  const backend: Backend | undefined = options.store && { ...options.store, manifests: new ManifestCache(options.store.store, log) };
  const host = options.host ?? '127.0.0.1';
  const { idleSocketMs, ...limits } = { ...LIMITS, ...options.limits };
  const server = http.createServer({ ...limits, requireHostHeader: false }, (request, response) => {
    answer(options, backend, log, request, response).catch((error: unknown) => {
      log.error({ err: error }, 'request failed');
      response.destroy();
    });
  });
  server.timeout = idleSocketMs;
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    log.debug({ err: error }, `refused a malformed request: ${error.code ?? error.message}`);
    if (!socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) return void socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const graceMs = options.graceMs ?? 5_000;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
