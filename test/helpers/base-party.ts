import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';

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

/** A base party that publishes only v2 metadata: a Crane @v2 redirect file over its Pulp v2 layout. */
export interface V2BaseParty {
  readonly url: string;
  /** Its redirect file (version 4 with `list`, else 3). */
  readonly metadata: string;
  /** Every path of its layout and the bytes served there; tests may change them. */
  readonly files: Map<string, Buffer>;
  readonly requests: readonly string[];
  /** The base layers' blobs as it serves them (gzip-compressed), base first. */
  readonly layers: readonly { readonly digest: string; readonly size: number; readonly path: string }[];
  readonly manifest: string;
}

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * The base image of `tars` (uncompressed layer tars, base first) in Pulp's v2 web layout
 * under `<url>`: gzip layers at blobs/<digest>, its config, its schema 2 manifest at
 * manifests/2/<tag> and manifests/2/<digest>, and with `list` a manifest list naming it
 * at manifests/list/<tag>, the file listing the list only.
 */
export async function startV2BaseParty(t: TestContext, base: { readonly tars: readonly Buffer[]; readonly repository?: string; readonly list?: boolean; readonly tag?: string }): Promise<V2BaseParty> {
  const repository = base.repository ?? 'rhel8';
  const tag = base.tag ?? 'latest';
  const files = new Map<string, Buffer>();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (body) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  const root = `/${repository}/`;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${root}`;
  const put = (data: Buffer) => {
    files.set(`${root}blobs/${sha256(data)}`, data);
    return { digest: sha256(data), size: data.length, path: `${root}blobs/${sha256(data)}` };
  };
  const layers = base.tars.map((tar) => put(gzipSync(tar)));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: base.tars.map(sha256) } }));
  const configBlob = put(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: l.digest, size: l.size })),
  }));
  files.set(`${root}manifests/2/${sha256(manifest)}`, manifest);
  const common = { type: 'pulp-docker-redirect', repository, 'repo-registry-id': repository, url, protected: false };
  let metadata: string;
  if (base.list) {
    const list = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: sha256(manifest), size: manifest.length, platform: { architecture: 'amd64', os: 'linux' } }],
    }));
    files.set(`${root}manifests/list/${tag}`, list);
    files.set(`${root}manifests/list/${sha256(list)}`, list);
    metadata = JSON.stringify({ ...common, version: 4, schema2_data: [], manifest_list_data: [tag, sha256(list)], manifest_list_amd64_tags: {} });
  } else {
    files.set(`${root}manifests/2/${tag}`, manifest);
    metadata = JSON.stringify({ ...common, version: 3, schema2_data: [tag, sha256(manifest)] });
  }
  return { url, metadata, files, requests, layers, manifest: sha256(manifest) };
}
