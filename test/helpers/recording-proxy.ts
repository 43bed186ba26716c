import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

/** One request a client made through the proxy, and how upstream answered. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Each Accept header line as sent, in order (clients differ: one line with a list, or several). */
  readonly accept: readonly string[];
  readonly status: number;
  readonly contentType: string;
}

export interface RecordingProxy {
  /** "127.0.0.1:<port>", for docker:// references. */
  readonly host: string;
  readonly requests: readonly RecordedRequest[];
}

/** rawHeaders is [name, value, name, value...]; Node would join repeated Accept lines into one. */
const acceptLines = (raw: readonly string[]): string[] => raw.flatMap((name, i) => (i % 2 === 0 && name.toLowerCase() === 'accept' ? [raw[i + 1]!] : []));

/**
 * A plain HTTP proxy on 127.0.0.1 in front of a registry (`target`, "http://127.0.0.1:<port>")
 * that records each request's method, path and Accept header: what a client asks a registry
 * for, which the stock registry does not log. Stopped when the test ends.
 */
export async function startRecordingProxy(t: TestContext, target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        requests.push({
          method: req.method ?? '',
          path: req.url ?? '',
          accept: acceptLines(req.rawHeaders),
          status: answer.statusCode ?? 0,
          contentType: answer.headers['content-type'] ?? '',
        });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`recording proxy: upstream ${target} failed: ${error.message}`);
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}
