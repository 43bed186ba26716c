import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  END_OF_ARCHIVE, dockerSaveEntries, imageConfig, ociEntries, ociFiles, pulpChain, pulpEntries, randomLayer, tarBuffer, tarEntry, writeChecksum,
  type TarEntrySpec,
} from './archives.ts';
import { git } from './git.ts';
import type { HostileCase } from './hostile.ts';
import type { Running } from './reliability.ts';
import type { World } from './world.ts';

/**
 * Issue 12's archive classes: tar constructs that GNU tar, Go's archive/tar and node-tar
 * read differently (class 3), archives whose metadata names the same files many times or
 * that decompress to far more than they hold (class 2), and the servers and disks raas
 * meets on the way (classes 6 and 7). The cases are written by hand, byte by byte where
 * no tool would write them.
 */

const MiB = 1024 * 1024;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

// ----------------------------------------------------------------------------- tar dialects

/** One PAX record, "<length> <key>=<value>\n", whose length counts its own digits. */
export function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length += 1;
  return `${length}${rest}`;
}

/** A PAX extended header ('x', or 'g' global) whose body is `records` exactly as given. */
const paxBlock = (name: string, records: string, typeflag: 'x' | 'g' = 'x'): Buffer => tarEntry({ path: name, typeflag, body: records });

const raw = (file: string, ...parts: Buffer[]) => writeFile(file, Buffer.concat([...parts, END_OF_ARCHIVE]));

/** A header block edited in place (bytes from `offset`), its checksum written again unless `keepChecksum`. */
function edited(spec: TarEntrySpec, offset: number, bytes: Buffer, options: { keepChecksum?: boolean } = {}): Buffer {
  const entry = tarEntry(spec);
  bytes.copy(entry, offset);
  if (!options.keepChecksum) writeChecksum(entry);
  return entry;
}

const sizeCase = (name: string, value: string): HostileCase => ({
  name,
  expect: `PAX record size=${JSON.stringify(value)} is not a decimal integer`,
  entry: 'PaxHeaders/manifest.json',
  write: (f) => raw(f, paxBlock('PaxHeaders/manifest.json', paxRecord('size', value)), tarEntry({ path: 'manifest.json', body: '[]'.padEnd(16) })),
});

/** Class 3: every way of reading a tar on which GNU tar, Go and node-tar part company. */
export const tarDialectCases: readonly HostileCase[] = [
  sizeCase('pax-size-hex', '0x10'),
  sizeCase('pax-size-exponent', '1e3'),
  sizeCase('pax-size-negative', '-1'),
  sizeCase('pax-size-leading-space', ' 16'),
  sizeCase('pax-size-plus-sign', '+16'),
  {
    name: 'pax-uid-not-decimal',
    expect: 'PAX record uid="12abc" is not a decimal integer',
    write: (f) => raw(f, paxBlock('PaxHeaders/a', paxRecord('uid', '12abc')), tarEntry({ path: 'a', body: 'x' })),
  },
  {
    name: 'pax-malformed-record',
    expect: 'malformed PAX record',
    // node-tar skipped a record whose length is wrong; Go refuses the header.
    write: (f) => raw(f, paxBlock('PaxHeaders/a', '99 path=manifest.json\n'), tarEntry({ path: 'a', body: 'x' })),
  },
  {
    name: 'gnu-sparse-0.1-name',
    expect: 'GNU sparse file record "GNU.sparse.',
    entry: 'GNUSparseFile.0/hidden',
    // Go and GNU tar read this entry as a second manifest.json; node-tar as GNUSparseFile.0/hidden.
    write: (f) =>
      raw(
        f,
        tarEntry({ path: 'manifest.json', body: '[]' }),
        paxBlock('GNUSparseFile.0/hidden', paxRecord('GNU.sparse.name', 'manifest.json') + paxRecord('GNU.sparse.map', '0,2') + paxRecord('GNU.sparse.realsize', '2')),
        tarEntry({ path: 'GNUSparseFile.0/hidden', body: '{}' }),
      ),
  },
  {
    name: 'gnu-sparse-1.0',
    expect: 'GNU sparse file record "GNU.sparse.major"',
    write: (f) =>
      raw(
        f,
        paxBlock('GNUSparseFile.0/x', paxRecord('GNU.sparse.major', '1') + paxRecord('GNU.sparse.minor', '0') + paxRecord('GNU.sparse.name', 'index.json') + paxRecord('GNU.sparse.realsize', '1024')),
        tarEntry({ path: 'GNUSparseFile.0/x', body: `1\n0\n2\n${'\0'.repeat(506)}{}` }),
      ),
  },
  {
    name: 'gnu-sparse-0.0',
    expect: 'GNU sparse file record "GNU.sparse.size"',
    write: (f) =>
      raw(f, paxBlock('PaxHeaders/x', paxRecord('GNU.sparse.size', '4096') + paxRecord('GNU.sparse.numblocks', '1') + paxRecord('GNU.sparse.offset', '0') + paxRecord('GNU.sparse.numbytes', '2')), tarEntry({ path: 'x', body: '{}' })),
  },
  {
    name: 'gnu-sparse-global',
    expect: 'GNU sparse file record "GNU.sparse.name"',
    write: (f) => raw(f, paxBlock('pax_global_header', paxRecord('GNU.sparse.name', 'manifest.json'), 'g'), tarEntry({ path: 'x', body: '{}' })),
  },
  { name: 'old-gnu-sparse', expect: 'old-format GNU sparse file', entry: 'sparse', write: (f) => raw(f, tarEntry({ path: 'sparse', typeflag: 'S', body: 'x' })) },
  {
    name: 'two-pax-headers',
    expect: 'two PAX headers for one entry',
    // Go keeps the second, node-tar and GNU tar merge both.
    write: (f) => raw(f, paxBlock('PaxHeaders/a', paxRecord('path', 'manifest.json')), paxBlock('PaxHeaders/b', paxRecord('mtime', '0')), tarEntry({ path: 'a', body: '[]' })),
  },
  {
    name: 'two-gnu-long-names',
    expect: 'two GNU long name headers for one entry',
    write: (f) =>
      raw(f, tarEntry({ path: '././@LongLink', typeflag: 'L', body: 'manifest.json\0' }), tarEntry({ path: '././@LongLink', typeflag: 'L', body: 'other.json\0' }), tarEntry({ path: 'a', body: '[]' })),
  },
  {
    name: 'pax-size-before-long-name',
    expect: 'a PAX size record followed by another extension header',
    write: (f) => raw(f, paxBlock('PaxHeaders/a', paxRecord('size', '2')), tarEntry({ path: '././@LongLink', typeflag: 'L', body: 'manifest.json\0' }), tarEntry({ path: 'a', body: '[]' })),
  },
  {
    name: 'octal-size-with-junk',
    expect: 'invalid size field: not an octal number',
    entry: '"b"',
    // node-tar read "0000002 9999" as 2, GNU tar stops at the space; Go refuses the header.
    write: (f) => raw(f, tarEntry({ path: 'a', body: 'x' }), edited({ path: 'b', body: 'xy' }, 124, Buffer.from('0000002 9999', 'latin1'))),
  },
  {
    name: 'negative-base-256-size',
    expect: 'invalid size field: a negative base-256 number',
    write: (f) => raw(f, tarEntry({ path: 'a', body: 'x' }), edited({ path: 'b', body: '' }, 124, Buffer.from([0xff, ...Array(11).fill(0xff)]))),
  },
  {
    name: 'checksum-with-junk',
    expect: 'invalid header checksum',
    entry: '"b"',
    write: (f) => {
      const block = tarEntry({ path: 'b', body: 'y' });
      const good = block.subarray(148, 154).toString('latin1');
      Buffer.from(`${good}x `, 'latin1').copy(block, 148);
      return raw(f, tarEntry({ path: 'a', body: 'x' }), block);
    },
  },
  {
    name: 'star-prefix',
    expect: 'looks like star format',
    write: (f) => {
      const block = tarEntry({ path: `${'p'.repeat(140)}/manifest.json`, body: '[]' });
      Buffer.from('tar\0', 'latin1').copy(block, 508);
      writeChecksum(block);
      return raw(f, block);
    },
  },
  {
    name: 'v7-file-named-like-a-directory',
    expect: 'a file whose name ends in "/"',
    entry: 'web/',
    // Go reads a typeflag NUL with a trailing "/" as a directory, node-tar as a file.
    write: (f) => raw(f, edited({ path: 'web/', body: 'x' }, 156, Buffer.from([0]))),
  },
];

// ----------------------------------------------------------------------------- amplification

/** A config of about `bytes`, padded in a label (it ends up in the top v1 JSON too). */
const bigConfig = (layers: ReturnType<typeof randomLayer>[], bytes: number): Buffer =>
  imageConfig(layers, { config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'], Labels: { pad: 'x'.repeat(bytes) } } });

/** An OCI archive whose index.json lists its one manifest (with a config of `configBytes`) `times` times. */
export async function ociRepeated(file: string, options: { times: number; configBytes: number }): Promise<void> {
  const layers = [randomLayer(512), randomLayer(512)];
  const { files } = ociFiles({ layers, config: bigConfig(layers, options.configBytes) });
  const descriptor = JSON.parse(files.get('index.json')!.toString()).manifests[0];
  files.set('index.json', json({ schemaVersion: 2, manifests: Array.from({ length: options.times }, () => descriptor) }));
  await writeFile(file, tarBuffer(ociEntries(files)));
}

/** A docker-archive (docker 1.10-24 layout) whose manifest.json names its one config `times` times. */
export async function dockerRepeated(file: string, options: { times: number; configBytes: number }): Promise<void> {
  const layers = [randomLayer(512), randomLayer(512)];
  const { entries } = dockerSaveEntries({ layers, name: 'acme/app', tag: 'v1', config: bigConfig(layers, options.configBytes) }, '1.10-24');
  const manifest = entries.find((e) => e.path === 'manifest.json')!;
  const item = JSON.parse(String(manifest.body))[0];
  const repeated = entries.map((e) => (e === manifest ? { path: 'manifest.json', body: json(Array.from({ length: options.times }, () => item)) } : e));
  await writeFile(file, tarBuffer(repeated));
}

/** An OCI archive whose index.json holds `count` descriptors (of one manifest). */
export const ociDescriptorFlood = (file: string, count: number) => ociRepeated(file, { times: count, configBytes: 16 });

/** An OCI archive of two images whose configs are `configBytes` each (distinct), for maxMetadataBytes. */
export async function ociTwoBigConfigs(file: string, configBytes: number): Promise<void> {
  const entries = new Map<string, Buffer>();
  const manifests: unknown[] = [];
  for (const tag of ['a', 'b']) {
    const layers = [randomLayer(256)];
    const { files } = ociFiles({ layers, config: bigConfig(layers, configBytes), tag });
    for (const [name, body] of files) if (name !== 'index.json') entries.set(name, body);
    manifests.push(...JSON.parse(files.get('index.json')!.toString()).manifests);
  }
  entries.set('index.json', json({ schemaVersion: 2, manifests }));
  await writeFile(file, tarBuffer(ociEntries(entries)));
}

const ZERO_MEMBER = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });

/**
 * `prefix`, then `zeroMiB` MiB of zeros, then `suffix`, as one .tar.gz of concatenated gzip
 * members (gunzip reads them as one stream): GiBs of zeros cost a few MiB on disk.
 */
export async function gzipWithZeros(file: string, prefix: Buffer, zeroMiB: number, suffix: Buffer = Buffer.alloc(0)): Promise<void> {
  if (zeroMiB % 64 !== 0) throw new Error('zeroMiB must be a multiple of 64');
  const out = createWriteStream(file);
  if (prefix.length > 0) out.write(gzipSync(prefix));
  for (let i = 0; i < zeroMiB / 64; i++) out.write(ZERO_MEMBER);
  if (suffix.length > 0) out.write(gzipSync(suffix));
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** A Pulp export whose one layer is `layerMiB` MiB of zeros, gzip-compressed as a whole (a large .tar.gz that is small on disk). */
export async function pulpWithZeroLayer(file: string, layerMiB: number): Promise<{ image: string; tag: string }> {
  const [image] = pulpChain([randomLayer(16)]);
  const entries = pulpEntries({ repoId: 'acme-app', registryId: 'acme/app', images: [image!], tags: { latest: image!.id } });
  const layerPath = `web/${image!.id}/layer`;
  const before = tarBuffer(entries.filter((e) => e.path !== layerPath)).subarray(0, -END_OF_ARCHIVE.length);
  // An entry without a body is its header alone (with a PAX header first past 8 GiB).
  const header = tarEntry({ path: layerPath, size: layerMiB * MiB });
  await gzipWithZeros(file, Buffer.concat([before, header]), layerMiB, END_OF_ARCHIVE);
  return { image: 'acme/app', tag: 'latest' };
}

/** The same, uncompressed, with the layer a hole in a sparse file: GiBs to hash, nothing on disk. */
export async function sparsePulpExport(file: string, layerMiB: number): Promise<void> {
  const [image] = pulpChain([randomLayer(16)]);
  const entries = pulpEntries({ repoId: 'acme-app', registryId: 'acme/app', images: [image!], tags: { latest: image!.id } });
  const layerPath = `web/${image!.id}/layer`;
  const before = tarBuffer(entries.filter((e) => e.path !== layerPath)).subarray(0, -END_OF_ARCHIVE.length);
  const header = tarEntry({ path: layerPath, size: layerMiB * MiB });
  const head = Buffer.concat([before, header]);
  await writeFile(file, head);
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r+');
  try {
    await fh.write(END_OF_ARCHIVE, 0, END_OF_ARCHIVE.length, head.length + layerMiB * MiB);
  } finally {
    await fh.close();
  }
}

// ----------------------------------------------------------------------------- measuring a run

/** Peak resident memory of a running process, read from /proc (VmHWM) until it ends; it is killed past `killAboveMiB`. */
export function watchMemory(run: Running, killAboveMiB: number): { peakMiB(): number; killed(): boolean } {
  let peakKiB = 0;
  let killed = false;
  const read = async () => {
    const status = await readFile(`/proc/${run.pid}/status`, 'utf8').catch(() => '');
    const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    peakKiB = Math.max(peakKiB, kib);
    if (kib / 1024 > killAboveMiB && !killed) {
      killed = true;
      run.kill('SIGKILL');
    }
  };
  const timer = setInterval(() => void read(), 20);
  void run.done.finally(() => clearInterval(timer));
  return { peakMiB: () => Math.round(peakKiB / 1024), killed: () => killed };
}

async function du(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (entry.isFile()) total += await stat(path.join(entry.parentPath, entry.name)).then((s) => s.blocks * 512, () => 0);
  }
  return total;
}

/** The most bytes `dir` held while `run` ran, sampled every 20 ms. */
export function watchDisk(run: Running, dir: string): { peakMiB(): number } {
  let peak = 0;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    peak = Math.max(peak, await du(dir));
    busy = false;
  }, 20);
  void run.done.finally(() => clearInterval(timer));
  return { peakMiB: () => Math.round((peak / MiB) * 10) / 10 };
}

// ----------------------------------------------------------------------------- the world

/** Change raas.cfg in the configuration repository, committed and pushed as an operator would. */
export async function editConfig(world: World, edit: (text: string) => string): Promise<void> {
  const cfg = path.join(world.configDir, 'raas.cfg');
  await writeFile(cfg, edit(await readFile(cfg, 'utf8')));
  await git(world.configDir, 'commit', '-qam', 'raas.cfg edited by the test');
  await git(world.configDir, 'push', '-q');
}

/** A fresh tmpfs of `size` (e.g. "8m"), unmounted and removed after the test; undefined when mounting is not allowed here. */
export async function tinyTmpfs(t: TestContext, size: string): Promise<string | undefined> {
  const { execa } = await import('execa');
  const { mkdtemp, rm } = await import('node:fs/promises');
  const dir = await mkdtemp(path.join((await import('node:os')).tmpdir(), 'raas-full-tmp-'));
  const mounted = await execa('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { reject: false });
  t.after(async () => {
    if (mounted.exitCode === 0) await execa('umount', ['-l', dir], { reject: false });
    await rm(dir, { recursive: true, force: true });
  });
  return mounted.exitCode === 0 ? dir : undefined;
}

// ----------------------------------------------------------------------------- hostile servers

export interface HostileServer {
  readonly url: string;
  /** Bytes of bodies written to clients so far. */
  sent(): number;
  /** Connections accepted so far. */
  connections(): number;
}

async function listen(t: TestContext, server: http.Server | net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    if (server instanceof http.Server) server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

/**
 * An HTTP server that misbehaves: 'endless' streams zeros without a length for as long as
 * the client reads; 'stall' sends the headers and 64 KiB of a declared 64 MiB, then nothing;
 * 'silent' accepts the connection and never answers.
 */
export async function hostileServer(t: TestContext, mode: 'endless' | 'stall' | 'silent'): Promise<HostileServer> {
  let sent = 0;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  if (mode === 'silent') {
    const server = net.createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    });
    t.after(() => {
      for (const s of sockets) s.destroy();
    });
    const port = await listen(t, server);
    return { url: `http://127.0.0.1:${port}`, sent: () => sent, connections: () => connections };
  }
  const chunk = Buffer.alloc(64 * 1024);
  const server = http.createServer((req, res) => {
    connections += 1;
    res.on('error', () => {});
    if (mode === 'stall') {
      res.writeHead(200, { 'content-length': 64 * MiB });
      res.write(chunk);
      sent += chunk.length;
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) sent += chunk.length;
      if (!res.destroyed) sent += chunk.length;
    };
    res.on('drain', pump);
    req.on('close', () => res.destroy());
    pump();
  });
  const port = await listen(t, server);
  return { url: `http://127.0.0.1:${port}`, sent: () => sent, connections: () => connections };
}

export const randomName = (): string => randomBytes(4).toString('hex');
