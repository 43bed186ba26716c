import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { TestContext } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { makeExample, randomLayer, type Example, type ExampleFormat } from './archives.ts';
import { tempDir } from './git.ts';
import { RAAS_BIN, type World } from './world.ts';

/**
 * `raas serve` as an operator runs it: the built CLI, in the world's configuration
 * directory, on a free loopback port, read from the "listening on" line it prints.
 */
export interface Served {
  /** "http://127.0.0.1:<port>" */
  readonly url: string;
  /** "127.0.0.1:<port>", for docker:// references. */
  readonly host: string;
  /** Everything it wrote to stderr so far (the access log, reloads). */
  stderr(): string;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | undefined>;
  /** Wait until /_raas/ready answers 200 with a commit other than `not` (or any, without it); its answer. */
  ready(options?: { not?: string | null; timeoutMs?: number }): Promise<Readiness>;
}

export interface Readiness {
  readonly ready: boolean;
  readonly source: string;
  readonly commit: string | null;
  readonly repositories: number;
}

export async function startServe(t: TestContext, world: World, args: readonly string[] = []): Promise<Served> {
  const child: ResultPromise = execa(process.execPath, [RAAS_BIN, 'serve', 'acme', '--listen', '127.0.0.1:0', ...args], {
    cwd: world.configDir, env: world.env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 120_000,
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /^listening on (http:\/\/\S+)\n/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.then((r) => reject(new Error(`raas serve exited ${r.exitCode}: ${stderr}`)), reject);
  });
  let exited: number | undefined | null = null;
  const stop = async () => {
    if (exited !== null) return exited;
    child.kill('SIGTERM');
    exited = (await child).exitCode;
    return exited;
  };
  t.after(stop);
  return {
    url,
    host: new URL(url).host,
    stderr: () => stderr,
    stop,
    async ready({ not, timeoutMs = 20_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const response = await fetch(`${url}/_raas/ready`).catch(() => undefined);
        const body = response?.status === 200 ? ((await response.json()) as Readiness) : void (await response?.body?.cancel());
        if (body && (not === undefined || body.commit !== not)) return body;
        if (Date.now() > deadline) throw new Error(`raas serve not ready (with a new commit) within ${timeoutMs} ms:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
export const skopeo = (...args: string[]) => execa('skopeo', ['--insecure-policy', ...args], { encoding: 'buffer', timeout: 60_000 });

export interface Published {
  readonly image: string;
  readonly example: Example;
  /** The manifest digest of tag 1.0 raas reported. */
  readonly digest: string;
  /** The layer digests of the input archive, as its own manifest names them (undefined: a Pulp export, whose layers are its plain tars). */
  readonly layerDigests: readonly string[];
}

const FORMATS: readonly [ExampleFormat, string][] = [['docker-archive', 'acme/docker'], ['oci-archive', 'acme/oci'], ['pulp', 'acme/pulp']];

/** One image of each format raas reads, pushed with the built CLI, tag 1.0: a layer of 1 MiB and more, and a small one. */
export async function publishEachFormat(world: World, formats = FORMATS): Promise<Published[]> {
  const published: Published[] = [];
  for (const [format, image] of formats) {
    const example = await makeExample({ dir: world.root, format, name: image, tag: '1.0', layers: [randomLayer(1024 * 1024 + 512), randomLayer(2048)] });
    const run = await world.raas(['push', 'acme', image, '--file', example.file, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    const layerDigests = format === 'pulp'
      ? example.layers.map((l) => l.diffId)
      : JSON.parse(Buffer.from((await skopeo('inspect', '--raw', `${format}:${example.file}`)).stdout).toString()).layers.map((l: { digest: string }) => l.digest);
    published.push({ image, example, digest: (report.v2 ?? report.distribution).manifests['1.0'], layerDigests });
  }
  return published;
}

/**
 * skopeo copies the image through the server by tag and by digest into OCI layouts
 * (checking every blob against its digest): the same manifest both ways, the input's
 * layer digests, its uncompressed layers and the config's diff_ids.
 */
export async function checkPulls(t: TestContext, registry: string, published: Published): Promise<void> {
  for (const reference of [':1.0', `@${published.digest}`]) {
    const dir = await tempDir(t, 'raas-pulled-');
    await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${registry}/${published.image}${reference}`, `dir:${dir}`);
    const manifestBytes = await readFile(path.join(dir, 'manifest.json'));
    assert.equal(`sha256:${sha256(manifestBytes)}`, published.digest, `${published.image}${reference}: the manifest raas published`);
    const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
    assert.deepEqual(manifest.layers.map((l) => l.digest), published.layerDigests, `${published.image}${reference}: layer digests`);
    const blob = (digest: string) => readFile(path.join(dir, digest.slice('sha256:'.length)));
    const config = JSON.parse((await blob(manifest.config.digest)).toString()) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(config.rootfs.diff_ids, published.example.layers.map((l) => l.diffId), `${published.image}${reference}: diff_ids`);
    const tars = await Promise.all(manifest.layers.map(async (l) => {
      const data = await blob(l.digest);
      return l.mediaType.endsWith('gzip') ? gunzipSync(data) : data;
    }));
    assert.ok(tars.every((tar, i) => tar.equals(published.example.layers[i]!.tar)), `${published.image}${reference}: layer bytes`);
  }
}

/** A port free on 127.0.0.1 now: for a raas.cfg that names the server's URL (registry_url, public_url) before it starts. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
