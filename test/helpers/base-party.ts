import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

/**
 * The party that hosts a masked base image (a CDN in production): it serves the base's v1
 * layer where its Crane metadata says, and nothing else. `requests` records every path
 * asked for, so a test can tell that a client fetched the layer there and only there.
 */
export interface BaseParty {
  /** The repository's url in its Crane metadata, ending in "/". */
  readonly url: string;
  /** Its Crane redirect file (version 1), for `baseMetadata` of a test world. */
  readonly metadata: string;
  readonly requests: readonly string[];
}

export async function startBaseParty(t: TestContext, base: { readonly id: string; readonly layer: Buffer; readonly repository?: string }): Promise<BaseParty> {
  const repository = base.repository ?? 'rhel7';
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === `/${repository}/${base.id}/layer`) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(base.layer);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${repository}/`;
  const metadata = JSON.stringify({
    type: 'pulp-docker-redirect', version: 1, repository, 'repo-registry-id': repository, url,
    protected: false, images: [{ id: base.id }], tags: { latest: base.id },
  });
  return { url, metadata, requests };
}
