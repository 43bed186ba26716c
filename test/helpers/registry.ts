import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { startServer, type RegistryServer as CraneServer } from '../../src/serve/server.ts';
import { dirSnapshot } from '../../src/serve/source.ts';
import { git, makeBareRepo, tempDir } from './git.ts';
import type { World } from './world.ts';

/** What raas setup needs of Crane's source repository ([openshift] app_git_url). */
export const CRANE_SOURCE_FILES: Readonly<Record<string, string>> = {
  'crane/__init__.py': '',
  'crane/wsgi.py': 'from .app import create_app\n\napplication = create_app()\n',
  'crane/data/default_config.conf': '[general]\ndebug: false\ndata_dir: /var/lib/crane/metadata/\n',
};

/** A bare repository standing in for github.com/pulp/crane. */
export async function makeCraneSource(t: TestContext): Promise<string> {
  return makeBareRepo(path.join(await tempDir(t, 'raas-crane-source-'), 'crane.git'), { files: CRANE_SOURCE_FILES });
}

/** Changes raas.cfg in the configuration repository as an operator would: edit, commit, push. */
export async function editConfig(world: World, edit: (text: string) => string): Promise<void> {
  const file = path.join(world.configDir, 'raas.cfg');
  await writeFile(file, edit(await readFile(file, 'utf8')));
  await git(world.configDir, 'commit', '-qam', 'edit raas.cfg');
  await git(world.configDir, 'push', '-q');
}

/**
 * The ISV's registry as clients see it: the Crane-compatible front end serving what the
 * Crane app repository deploys, at a URL that stays the same while it is started again
 * over newer deployments (Crane itself re-reads its data directory).
 */
export interface Registry {
  readonly url: string;
  /** Serve the app repository's data directory as it is now. */
  serveDeployed(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRegistry(t: TestContext, world: World): Promise<Registry> {
  const root = await tempDir(t, 'raas-registry-');
  let server: CraneServer | undefined = await startServer({ source: await dirSnapshot(path.join(root, 'nothing')) });
  const url = server.url;
  const port = Number(new URL(url).port);
  let round = 0;
  const stop = async () => {
    await server?.close();
    server = undefined;
  };
  t.after(stop);
  return {
    url,
    async serveDeployed() {
      const checkout = path.join(root, `deployed-${(round += 1)}`);
      await git(root, 'clone', '-q', world.craneRemote, checkout);
      await stop();
      server = await startServer({ source: await dirSnapshot(path.join(checkout, 'crane/data')), port });
    },
    stop,
  };
}

/** A static web server publishing a storage directory (storage = file), as an operator would run one. */
export async function serveDirectory(t: TestContext, dir: string): Promise<string> {
  const server = http.createServer((request, response) => {
    const key = decodeURIComponent(new URL(request.url ?? '/', 'http://files').pathname).slice(1);
    const file = path.join(dir, key);
    if (!file.startsWith(`${dir}${path.sep}`)) return void response.writeHead(404).end();
    readFile(file).then((body) => response.writeHead(200).end(request.method === 'HEAD' ? undefined : body), () => response.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}
