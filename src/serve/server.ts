import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadCraneData, type CraneData } from './data.ts';
import { v2Redirect } from './v2.ts';

/**
 * A read-only registry front end that answers like Crane's v1 API (crane/views/v1.py):
 * it serves the repositories' image lists and tags from the redirect files and sends
 * clients elsewhere (302) for every image file; and like its v2 API (crane/views/v2.py),
 * which redirects every request (see v2.ts). No Crane repository is protected here: a
 * protected one is answered 404, as Crane answers clients without an entitlement
 * certificate. The data directory is read once, at start.
 */
export interface CraneServerOptions {
  readonly dataDir: string;
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
}

export interface CraneServer {
  /** `http://host:port`, without a final "/". */
  readonly url: string;
  close(): Promise<void>;
}

interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const IMAGE_FILES = new Set(['ancestry', 'json', 'layer']);
const STATUS_TEXT: Readonly<Record<number, string>> = { 404: 'Not Found', 405: 'Method Not Allowed' };

// What Crane adds to every v1 answer, to look like docker-registry 0.6.
const V1_HEADERS = { 'X-Docker-Registry-Version': '0.6.6', 'X-Docker-Registry-Config': 'common' };

const json = (status: number, value: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(value),
});
const error = (status: number): Reply => json(status, { errors: [{ code: String(status), message: STATUS_TEXT[status] }] });
const v1 = (reply: Reply): Reply => ({ ...reply, headers: { ...reply.headers, ...V1_HEADERS } });

/** The repository a v1 client asks for: docker prefixes names without a namespace with "library/". */
function v1Repo(data: CraneData, name: string) {
  if (name.split('/').length > 2) return undefined;
  const repo = data.v1.get(name.startsWith('library/') ? name.slice('library/'.length) : name);
  return repo && !repo.protected ? repo : undefined;
}

function imageRedirect(data: CraneData, id: string, file: string): Reply {
  if (!IMAGE_FILES.has(file)) return error(404);
  // Any repository listing the image will do: that is how one party's metadata serves
  // base layers another party hosts.
  const repo = (data.images.get(id) ?? []).map((name) => data.v1.get(name)!).find((r) => !r.protected);
  if (!repo) return error(404);
  const base = repo.url.endsWith('/') ? repo.url : `${repo.url}/`;
  const target = URL.canParse(base) ? new URL(`${id}/${file}`, base).href : `${base}${id}/${file}`;
  return { status: 302, headers: { Location: target }, body: '' };
}

function route(data: CraneData, path: string, headers: http.IncomingHttpHeaders): Reply {
  if (path === '/v2/') return json(200, {}, { 'Docker-Distribution-API-Version': 'registry/2.0' });
  if (path.startsWith('/v2/')) {
    const target = v2Redirect(data, path.slice('/v2/'.length), headers.accept);
    return 'location' in target ? { status: 302, headers: { Location: target.location }, body: '' } : error(target.status);
  }
  if (!path.startsWith('/v1/')) return error(404);
  if (path === '/v1/_ping') return v1(json(200, true, { 'X-Docker-Registry-Standalone': 'True' }));
  let match = /^\/v1\/repositories\/(.+)\/(images|tags)$/.exec(path);
  if (match) {
    const repo = v1Repo(data, match[1]!);
    if (!repo) return v1(error(404));
    return v1(match[2] === 'images' ? json(200, repo.images, { 'X-Docker-Endpoints': headers.host ?? '' }) : json(200, repo.tags));
  }
  match = /^\/v1\/repositories\/(.+)\/tags\/([^/]+)$/.exec(path);
  if (match) {
    const id = v1Repo(data, match[1]!)?.tags[match[2]!];
    return v1(id === undefined ? error(404) : json(200, id));
  }
  match = /^\/v1\/images\/([^/]+)\/([^/]+)$/.exec(path);
  return v1(match ? imageRedirect(data, match[1]!, match[2]!) : error(404));
}

function answer(data: CraneData, request: http.IncomingMessage, response: http.ServerResponse): void {
  let reply: Reply;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    reply = error(405);
  } else {
    let path: string | undefined;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://crane').pathname);
    } catch {
      // a malformed escape names nothing
    }
    reply = path === undefined ? error(404) : route(data, path, request.headers);
  }
  response.writeHead(reply.status, reply.headers);
  response.end(request.method === 'HEAD' ? undefined : reply.body);
}

export async function startCraneServer(options: CraneServerOptions): Promise<CraneServer> {
  const data = await loadCraneData(options.dataDir);
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer((request, response) => answer(data, request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
