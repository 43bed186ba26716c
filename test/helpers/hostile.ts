import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { Pax } from 'tar';
import type { ArchiveLimits } from '../../src/image/limits.ts';
import {
  END_OF_ARCHIVE,
  dockerSaveEntries,
  ociEntries,
  ociFiles,
  pulpChain,
  pulpEntries,
  randomLayer,
  tarBuffer,
  tarEntry,
  writeChecksum,
  type PulpImage,
  type PulpSpec,
  type TarEntrySpec,
} from './archives.ts';

/**
 * Crafted archives that raas must refuse, each with the rule it breaks. Raw headers are
 * written by hand where tar tools would refuse to produce them.
 */

export interface HostileCase {
  readonly name: string;
  /** A fragment of the InputError's message: the rule. */
  readonly expect: string;
  /** A fragment of the message naming the offending entry, when there is one. */
  readonly entry?: string;
  readonly limits?: Partial<ArchiveLimits>;
  /** 'verify' when only hashing the layers (verifyLayers) can find the problem. */
  readonly stage?: 'read' | 'verify';
  write(file: string): Promise<void>;
}

const hex = (): string => randomBytes(32).toString('hex');
const bytes = (...parts: Buffer[]): Buffer => Buffer.concat([...parts, END_OF_ARCHIVE]);
const tar = (file: string, entries: readonly TarEntrySpec[]) => writeFile(file, tarBuffer(entries));
const raw = (file: string, ...parts: Buffer[]) => writeFile(file, bytes(...parts));

/** A PAX extended header ('x', or 'g' for global) carrying `fields`. */
function paxHeader(fields: { path?: string; linkpath?: string }, global = false): Buffer {
  return new Pax(fields, global).encode();
}

/** A GNU long name ('L') or long link ('K') header whose body is `text` (NUL-terminated as GNU tar writes it). */
const gnuLong = (typeflag: 'L' | 'K', text: string): Buffer => tarEntry({ path: '././@LongLink', typeflag, body: `${text}\0` });

function pulpExport(edit?: (spec: { images: PulpImage[]; tags: Record<string, string> }) => void): TarEntrySpec[] {
  const images = pulpChain([randomLayer(256), randomLayer(256)]);
  const tags: Record<string, string> = { latest: images.at(-1)!.id };
  edit?.({ images, tags });
  const spec: PulpSpec = { repoId: 'acme-app', registryId: 'acme/app', images, tags };
  return pulpEntries(spec);
}

function ociArchive(edit: (files: Map<string, Buffer>, digests: { config: string; layers: readonly string[] }) => void, manifestEdit?: (m: Record<string, any>) => void): TarEntrySpec[] {
  const { files, image } = ociFiles({ layers: [randomLayer(512), randomLayer(512)], tag: 'latest', gzip: true, editManifest: manifestEdit });
  edit(files, { config: image.config.slice(7), layers: image.layerDigests.map((d) => d.slice(7)) });
  return ociEntries(files);
}

export const hostileCases: readonly HostileCase[] = [
  // ---- names
  { name: 'dotdot-traversal', expect: '".." segment', entry: 'web/../../etc/passwd', write: (f) => tar(f, [{ path: 'web/../../etc/passwd', body: 'x' }]) },
  { name: 'absolute-path', expect: 'absolute path', entry: '/etc/passwd', write: (f) => tar(f, [{ path: '/etc/passwd', body: 'x' }]) },
  { name: 'windows-drive', expect: 'Windows drive path', entry: 'C:/Windows/evil.dll', write: (f) => tar(f, [{ path: 'C:/Windows/evil.dll', body: 'x' }]) },
  { name: 'backslash', expect: 'backslash', entry: 'web\\\\..\\\\evil', write: (f) => tar(f, [{ path: 'web\\..\\evil', body: 'x' }]) },
  {
    name: 'pax-path-traversal',
    expect: '".." segment',
    entry: '../../../etc/cron.d/x',
    write: (f) => raw(f, paxHeader({ path: `${'a'.repeat(150)}/../../../etc/cron.d/x` }), tarEntry({ path: 'harmless.txt', body: 'x' })),
  },
  {
    name: 'gnu-long-name-traversal',
    expect: '".." segment',
    entry: '../',
    write: (f) => raw(f, gnuLong('L', `../${'b'.repeat(120)}/evil`), tarEntry({ path: 'harmless.txt', body: 'x' })),
  },
  {
    name: 'gnu-long-link-outside',
    expect: 'points outside the archive',
    entry: 'innocent',
    write: (f) => raw(f, gnuLong('K', `${'../'.repeat(40)}etc/shadow`), tarEntry({ path: 'innocent', type: 'symlink', linkpath: 'x' })),
  },
  {
    name: 'pax-linkpath-absolute',
    expect: 'points outside the archive',
    entry: 'link',
    write: (f) => raw(f, paxHeader({ path: 'link', linkpath: '/etc/passwd' }), tarEntry({ path: 'link', type: 'symlink', linkpath: 'harmless' })),
  },
  {
    name: 'name-too-long',
    expect: 'name longer than',
    limits: { maxPathBytes: 200 },
    write: (f) => raw(f, paxHeader({ path: `${'c'.repeat(100)}/${'d'.repeat(150)}` }), tarEntry({ path: 'short', body: 'x' })),
  },
  { name: 'control-character', expect: 'control character U+001B', entry: 'web/\\u001b[31mred/json', write: (f) => tar(f, [{ path: 'web/\x1b[31mred/json', body: '{}' }]) },
  { name: 'bidi-override', expect: 'bidirectional-control character U+202E', entry: 'evil\\u202etxt.json', write: (f) => tar(f, [{ path: 'evil\u202Etxt.json', body: '{}' }]) },
  {
    name: 'invalid-utf8',
    expect: 'not valid UTF-8',
    write: (f) => {
      const entry = tarEntry({ path: 'abcd', body: 'x' });
      entry[1] = 0xff;
      writeChecksum(entry);
      return raw(f, entry);
    },
  },
  { name: 'nul-in-long-name', expect: 'NUL character', write: (f) => raw(f, tarEntry({ path: '././@LongLink', typeflag: 'L', body: 'web/a\0/../../evil\0' }), tarEntry({ path: 'x', body: 'x' })) },
  {
    name: 'case-fold-collision',
    expect: 'after Unicode normalisation and case folding',
    entry: 'web/',
    write: (f) => {
      const entries = pulpExport();
      const json = entries.find((e) => e.path.endsWith('/json'))!;
      return tar(f, [...entries, { path: json.path.toUpperCase().replace('WEB/', 'web/').replace('/JSON', '/json'), body: '{"id":"other"}' }]);
    },
  },
  { name: 'unicode-nfc-collision', expect: 'after Unicode normalisation and case folding', entry: 'caf', write: (f) => tar(f, [{ path: 'caf\u00e9.json', body: '{}' }, { path: 'cafe\u0301.json', body: '{"x":1}' }]) },

  // ---- links
  { name: 'symlink-outside', expect: 'points outside the archive', entry: 'web/x/layer', write: (f) => tar(f, [{ path: 'web/x/layer', type: 'symlink', linkpath: '../../../etc/passwd' }]) },
  { name: 'symlink-absolute', expect: 'points outside the archive', entry: 'layer.tar', write: (f) => tar(f, [{ path: 'layer.tar', type: 'symlink', linkpath: '/etc/passwd' }]) },
  { name: 'hardlink-outside', expect: 'points outside the archive', entry: 'a', write: (f) => tar(f, [{ path: 'a', type: 'hardlink', linkpath: '../a' }]) },
  { name: 'hardlink-dangling', expect: 'is not in the archive', entry: 'a', write: (f) => tar(f, [{ path: 'a', type: 'hardlink', linkpath: 'missing' }]) },
  {
    name: 'symlink-loop',
    expect: 'link loop',
    entry: '"a"',
    write: (f) => tar(f, [{ path: 'a', type: 'symlink', linkpath: 'b' }, { path: 'b', type: 'symlink', linkpath: 'a' }]),
  },
  { name: 'symlink-self-loop', expect: 'link loop', entry: '"self"', write: (f) => tar(f, [{ path: 'self', type: 'symlink', linkpath: 'self' }]) },
  {
    name: 'entry-beneath-symlink',
    expect: 'not a directory',
    entry: 'd/passwd',
    write: (f) => tar(f, [{ path: 'real/', type: 'directory' }, { path: 'd', type: 'symlink', linkpath: 'real' }, { path: 'd/passwd', body: 'x' }]),
  },
  { name: 'link-with-body', expect: 'declares a body', entry: 'l', write: (f) => raw(f, tarEntry({ path: 'l', type: 'symlink', linkpath: 'x', size: 100, body: 'y'.repeat(100) })) },

  // ---- entry types
  { name: 'character-device', expect: 'character device', entry: 'dev/null', write: (f) => tar(f, [{ path: 'dev/null', typeflag: '3' }]) },
  { name: 'block-device', expect: 'block device', entry: 'dev/sda', write: (f) => tar(f, [{ path: 'dev/sda', typeflag: '4' }]) },
  { name: 'fifo', expect: 'FIFO', entry: 'pipe', write: (f) => tar(f, [{ path: 'pipe', typeflag: '6' }]) },
  { name: 'unsupported-type', expect: 'unsupported tar entry type "S"', entry: 'sparse', write: (f) => tar(f, [{ path: 'sparse', typeflag: 'S' }]) },

  // ---- smuggling: what one tar reader sees and another does not
  {
    name: 'duplicate-changes-type',
    expect: 'appears twice',
    entry: 'manifest.json',
    write: (f) => tar(f, [{ path: 'manifest.json', body: '[]' }, { path: 'other', body: 'x' }, { path: 'manifest.json', type: 'symlink', linkpath: 'other' }]),
  },
  { name: 'duplicate-changes-content', expect: 'appears twice', entry: 'index.json', write: (f) => tar(f, [{ path: 'index.json', body: '{"a":1}' }, { path: './index.json', body: '{"a":2}' }]) },
  {
    name: 'lone-zero-block',
    expect: 'single zero block',
    write: (f) => writeFile(f, Buffer.concat([tarEntry({ path: 'a', body: 'x' }), Buffer.alloc(512), tarEntry({ path: 'hidden', body: 'y' }), END_OF_ARCHIVE])),
  },
  { name: 'global-pax-path', expect: 'global PAX header', write: (f) => raw(f, paxHeader({ path: 'everything' }, true), tarEntry({ path: 'a', body: 'x' })) },
  {
    name: 'pax-and-gnu-long-name',
    expect: 'both a PAX path and a GNU long name',
    write: (f) => raw(f, gnuLong('L', 'one/name'), paxHeader({ path: 'another/name' }), tarEntry({ path: 'x', body: 'x' })),
  },

  // ---- sizes, truncation, corruption, bombs
  { name: 'oversized-declared-size', expect: 'runs past the end of the archive', entry: 'big', write: (f) => raw(f, tarEntry({ path: 'big', body: 'x', size: 1024 ** 3 })) },
  {
    name: 'truncated-tar',
    expect: 'runs past the end of the archive',
    entry: '/layer',
    write: (f) => {
      const whole = tarBuffer(pulpExport());
      return writeFile(f, whole.subarray(0, whole.length - 1024 - 300));
    },
  },
  {
    name: 'bad-checksum',
    expect: 'invalid header checksum',
    entry: 'second',
    write: (f) => {
      const second = tarEntry({ path: 'second', body: 'y' });
      second[148] = 0x37;
      return raw(f, tarEntry({ path: 'first', body: 'x' }), second);
    },
  },
  { name: 'not-a-tar', expect: 'not a tar archive', write: (f) => writeFile(f, randomBytes(4096)) },
  { name: 'xz-compressed', expect: 'xz data', write: (f) => writeFile(f, Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), randomBytes(100)])) },
  { name: 'corrupt-gzip', expect: 'corrupt or truncated gzip', write: (f) => writeFile(f, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), randomBytes(2000)])) },
  {
    name: 'truncated-gzip',
    expect: 'corrupt or truncated gzip',
    write: (f) => {
      const gz = gzipSync(tarBuffer(pulpExport()));
      return writeFile(f, gz.subarray(0, Math.floor(gz.length / 2)));
    },
  },
  {
    name: 'tar-bomb',
    expect: 'tar bomb',
    limits: { maxUnpackedBytes: 1024 ** 2 },
    write: (f) => writeFile(f, gzipSync(tarBuffer([{ path: 'zeros', body: Buffer.alloc(8 * 1024 ** 2) }]))),
  },
  {
    name: 'too-many-entries',
    expect: 'more than 10 entries',
    limits: { maxEntries: 10 },
    write: (f) => tar(f, Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, body: 'x' }))),
  },
  {
    name: 'json-bomb-size',
    expect: 'exceeds the limit',
    entry: 'manifest.json',
    limits: { maxJsonBytes: 64 * 1024 },
    write: (f) => tar(f, [{ path: 'manifest.json', body: JSON.stringify([{ Config: 'c.json', RepoTags: ['x'.repeat(100_000)], Layers: [] }]) }]),
  },
  {
    name: 'json-deep-nesting',
    expect: 'nested deeper than',
    entry: 'manifest.json',
    write: (f) => tar(f, [{ path: 'manifest.json', body: `${'['.repeat(100_000)}${']'.repeat(100_000)}` }]),
  },
  { name: 'unknown-format', expect: 'not a Pulp export, docker-archive or OCI archive: found "hello.txt"', write: (f) => tar(f, [{ path: 'hello.txt', body: 'hi' }]) },

  // ---- image metadata
  {
    name: 'ancestry-disagrees',
    expect: 'disagrees with the parent links',
    entry: '/json',
    write: (f) =>
      tar(
        f,
        pulpExport(({ images }) => {
          images[1] = { ...images[1]!, ancestry: [images[1]!.id, hex()] };
        }),
      ),
  },
  {
    name: 'parent-cycle',
    expect: 'parent links loop',
    entry: '/json',
    write: (f) =>
      tar(
        f,
        pulpExport(({ images }) => {
          const [a, b] = images as [PulpImage, PulpImage];
          images[0] = { ...a, parent: b.id, ancestry: [a.id, b.id] };
          images[1] = { ...b, ancestry: [b.id, a.id] };
        }),
      ),
  },
  {
    name: 'parent-chain-too-deep',
    expect: 'parent chain deeper than 256 images',
    write: (f) =>
      tar(
        f,
        pulpExport(({ images, tags }) => {
          for (let i = 0; i < 300; i++) images.push({ id: hex(), parent: images.at(-1)!.id, layer: Buffer.from('x') });
          tags['latest'] = images.at(-1)!.id;
        }),
      ),
  },
  {
    name: 'tag-missing-image',
    expect: 'which is not in the archive',
    entry: 'acme-app.json',
    write: (f) =>
      tar(
        f,
        pulpExport(({ tags }) => {
          tags['latest'] = hex();
        }),
      ),
  },
  {
    name: 'non-hex-id',
    expect: 'not 64 lowercase hex',
    entry: 'web/not-a-v1-id/json',
    write: (f) =>
      tar(
        f,
        pulpExport(({ images, tags }) => {
          images.push({ id: 'not-a-v1-id', parent: images.at(-1)!.id, layer: randomLayer(64).tar });
          tags['latest'] = 'not-a-v1-id';
        }),
      ),
  },
  {
    name: 'missing-layer',
    expect: 'missing layer',
    entry: '/layer',
    write: (f) => {
      const entries = pulpExport();
      entries.splice(entries.findIndex((e) => e.path.endsWith('/layer')), 1);
      return tar(f, entries);
    },
  },
  {
    name: 'id-differs-from-directory',
    expect: 'does not match the directory',
    entry: '/json',
    write: (f) =>
      tar(
        f,
        pulpExport(({ images }) => {
          images[0] = { ...images[0]!, json: { id: hex() } };
        }),
      ),
  },
  {
    name: 'docker-tag-missing-image',
    expect: 'which is not in the archive',
    entry: 'repositories',
    write: (f) => {
      const { entries } = dockerSaveEntries({ layers: [randomLayer(64)], name: 'acme/app', tag: 'v1' }, 'pre-1.10');
      return tar(f, [...entries.filter((e) => e.path !== 'repositories'), { path: 'repositories', body: JSON.stringify({ 'acme/app': { v1: hex() } }) }]);
    },
  },
  {
    name: 'config-digest-mismatch',
    expect: 'content does not match its digest',
    entry: 'blobs/sha256/',
    write: (f) =>
      tar(
        f,
        ociArchive((files, { config }) => {
          const path = `blobs/sha256/${config}`;
          files.set(path, Buffer.from(files.get(path)!.toString().replace('amd64', 'arm64')));
        }),
      ),
  },
  {
    name: 'layer-size-mismatch',
    expect: 'but its descriptor declares',
    entry: 'blobs/sha256/',
    write: (f) =>
      tar(
        f,
        ociArchive(
          () => {},
          (m) => {
            m['layers'][0].size += 1;
          },
        ),
      ),
  },
  {
    name: 'layer-digest-mismatch',
    expect: 'does not match its declared digest',
    stage: 'verify',
    write: (f) =>
      tar(
        f,
        ociArchive((files, { layers }) => {
          const path = `blobs/sha256/${layers[0]}`;
          files.set(path, randomBytes(files.get(path)!.length));
        }),
      ),
  },
  {
    name: 'unsupported-digest-algorithm',
    expect: 'unsupported digest algorithm',
    write: (f) =>
      tar(
        f,
        ociArchive(
          () => {},
          (m) => {
            m['layers'][0].digest = `sha512:${'ab'.repeat(64)}`;
          },
        ),
      ),
  },
  {
    name: 'missing-layer-blob',
    expect: 'is not in the archive',
    entry: 'blobs/sha256/',
    write: (f) =>
      tar(
        f,
        ociArchive((files, { layers }) => {
          files.delete(`blobs/sha256/${layers[1]}`);
        }),
      ),
  },
  {
    name: 'nested-index-without-amd64',
    expect: 'no linux/amd64 image in this index (found: linux/arm64/v8)',
    write: (f) =>
      tar(
        f,
        ociArchive((files) => {
          const top = JSON.parse(files.get('index.json')!.toString());
          const child = { ...top.manifests[0], annotations: undefined, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } };
          // An index of an index: not published whole, so the v1 and v2 views need its linux/amd64 image.
          const nested = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [child] }));
          const inner = `sha256:${createHash('sha256').update(nested).digest('hex')}`;
          files.set(`blobs/sha256/${inner.slice(7)}`, nested);
          const outer = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: inner, size: nested.length, platform: child.platform }] }));
          const digest = `sha256:${createHash('sha256').update(outer).digest('hex')}`;
          files.set(`blobs/sha256/${digest.slice(7)}`, outer);
          top.manifests[0] = { mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: outer.length, annotations: top.manifests[0].annotations };
          files.set('index.json', Buffer.from(JSON.stringify(top)));
        }),
      ),
  },
];
