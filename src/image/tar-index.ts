import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { freeBytes, isNoSpace, noSpaceError, SPACE_FIX } from '../disk-space.ts';
import { InputError, OperationError } from '../errors.ts';
import { foldKey, linkTarget, quoteName } from './entry-names.ts';
import { LIMITS_VARIABLE, type ArchiveLimits } from './limits.ts';
import type { Blob } from './model.ts';
import { BLOCK, checksumValid } from './tar-header.ts';
import { walkTar, type RawEntry } from './tar-walk.ts';

export interface TarEntry extends RawEntry {
  /** Normalised archive path a link points to (symlinks and hard links only). */
  readonly target: string | undefined;
}

/** Like Linux's ELOOP limit: a longer chain is a loop or an attack. */
const MAX_LINK_HOPS = 40;
/** Duplicate entries up to this size are compared byte for byte; larger ones are refused. */
const COMPARE_LIMIT = 8 * 1024 ** 2;

const COMPRESSIONS: ReadonlyArray<readonly [string, Buffer]> = [
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['bzip2', Buffer.from('BZh')],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['zip', Buffer.from([0x50, 0x4b, 0x03, 0x04])],
];
const GZIP = Buffer.from([0x1f, 0x8b]);

/**
 * A tar archive indexed in place: lookups by path (following links, only ever inside the
 * archive), and byte ranges of entries as Blobs. Nothing is extracted; a gzip-compressed
 * archive is decompressed once into `workDir` because gzip cannot be read at an offset.
 */
export class TarIndex {
  /** The archive as the user named it, for messages. */
  readonly archive: string;
  /** The uncompressed tar that offsets refer to. */
  readonly tarFile: string;
  readonly #byPath = new Map<string, TarEntry>();
  readonly #dirs = new Set<string>(['']);
  readonly #tempDir: string | undefined;

  private constructor(archive: string, tarFile: string, tempDir: string | undefined) {
    this.archive = archive;
    this.tarFile = tarFile;
    this.#tempDir = tempDir;
  }

  /** Throw the InputError for a rule this archive breaks. */
  fail(message: string, fix?: string): never {
    throw new InputError(message, { where: this.archive, fix });
  }

  /** Every entry path, in archive order. */
  paths(): string[] {
    return [...this.#byPath.keys()];
  }

  /** The regular file at `path` after following links, if there is one. */
  file(path: string): TarEntry | undefined {
    const found = this.#resolve(path);
    return typeof found === 'object' ? found : undefined;
  }

  isDirectory(path: string): boolean {
    return this.#resolve(path) === 'directory';
  }

  blob(entry: TarEntry): Blob {
    const { tarFile } = this;
    const { size, offset } = entry;
    return {
      size,
      where: `${this.archive} entry ${quoteName(entry.path)}`,
      // The archive the user named, not a decompressed copy: that is new every run.
      source: { file: this.archive, offset },
      open(start = 0, end = size): Readable {
        if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end <= size)) {
          throw new RangeError(`byte range [${start}, ${end}) is outside a blob of ${size} bytes`);
        }
        if (start === end) return Readable.from([]);
        // 256 KiB reads: each chunk is garbage once hashed or sent, and 1 MiB chunks left
        // ~30 MiB more of it waiting for a collection (peak RSS of a push ~195 -> ~167 MiB,
        // npm run bench); smaller chunks saved little more and cost CPU.
        return createReadStream(tarFile, { start: offset + start, end: offset + end - 1, highWaterMark: 256 * 1024 });
      },
    };
  }

  /** The first `length` bytes (or all) of an entry, read in one go: for metadata and magic numbers. */
  async read(entry: TarEntry, length = entry.size): Promise<Buffer> {
    const n = Math.min(length, entry.size);
    const fh = await open(this.tarFile, 'r');
    try {
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fh.read(buf, 0, n, entry.offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  /** Remove the decompressed copy, if any; Blobs of this index are unusable afterwards. */
  async dispose(): Promise<void> {
    if (this.#tempDir) await rm(this.#tempDir, { recursive: true, force: true });
  }

  /** `signal` stops decompression and indexing at once (SIGINT, SIGTERM); the partial copy is removed. */
  static async open(archive: string, workDir: string, limits: ArchiveLimits, signal?: AbortSignal): Promise<TarIndex> {
    const fail = (message: string, fix?: string): never => {
      throw new InputError(message, { where: archive, fix });
    };
    const magic = await readMagic(archive, fail);
    for (const [name, bytes] of COMPRESSIONS) {
      if (magic.subarray(0, bytes.length).equals(bytes)) {
        fail(`not a tar archive: ${name} data`, 'give raas a tar or tar.gz archive (docker save, skopeo copy, a Pulp export)');
      }
    }
    let index: TarIndex;
    if (magic.subarray(0, 2).equals(GZIP)) {
      await mkdir(workDir, { recursive: true });
      const tempDir = await mkdtemp(join(workDir, 'archive-'));
      index = new TarIndex(archive, join(tempDir, 'archive.tar'), tempDir);
    } else {
      index = new TarIndex(archive, archive, undefined);
    }
    try {
      if (index.#tempDir) await gunzip(archive, index.tarFile, workDir, limits, fail, signal);
      await index.#build(await walkTar(index.tarFile, limits, fail, signal));
      return index;
    } catch (err) {
      await index.dispose();
      throw err;
    }
  }

  async #build(entries: readonly RawEntry[]): Promise<void> {
    const byFold = new Map<string, TarEntry>();
    for (const raw of entries) {
      const entry: TarEntry = {
        ...raw,
        target: raw.type === 'symlink' || raw.type === 'hardlink' ? linkTarget(raw.path, raw.type, raw.linkpath ?? '') : undefined,
      };
      const previous = this.#byPath.get(entry.path);
      if (previous) await this.#requireSame(previous, entry, 'appears twice', 'tar readers would disagree on which one counts');
      const key = foldKey(entry.path);
      const twin = byFold.get(key);
      if (twin && twin.path !== entry.path) {
        await this.#requireSame(
          twin,
          entry,
          `collides with ${quoteName(twin.path)} after Unicode normalisation and case folding`,
          'they would be one file on case-insensitive systems',
        );
      }
      byFold.set(key, entry);
      this.#byPath.set(entry.path, entry);
      const parts = entry.path.split('/');
      for (let i = 1; i < parts.length; i++) this.#dirs.add(parts.slice(0, i).join('/'));
    }
    for (const entry of this.#byPath.values()) this.#checkPlacement(entry);
  }

  async #requireSame(a: TarEntry, b: TarEntry, rule: string, risk: string): Promise<void> {
    if (a.type === 'directory' && b.type === 'directory') return;
    let difference: string | undefined;
    if (a.type !== b.type) difference = `a ${a.type} and a ${b.type}`;
    else if (a.size !== b.size || a.linkpath !== b.linkpath) difference = 'different content';
    else if (a.type === 'file' && a.size > COMPARE_LIMIT) difference = 'too large to compare';
    else if (a.type === 'file' && !(await this.read(a)).equals(await this.read(b))) difference = 'different content';
    if (difference) this.fail(`entry ${quoteName(b.path)}: ${rule} (${difference}); ${risk}`);
  }

  /** Parents must be directories, and links must end inside the archive without looping. */
  #checkPlacement(entry: TarEntry): void {
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = this.#byPath.get(parts.slice(0, i).join('/'));
      if (parent && parent.type !== 'directory') {
        this.fail(`entry ${quoteName(entry.path)}: inside ${quoteName(parent.path)}, which is a ${parent.type}, not a directory`);
      }
    }
    if (entry.type !== 'symlink' && entry.type !== 'hardlink') return;
    if (entry.target === undefined) {
      this.fail(`entry ${quoteName(entry.path)}: ${entry.type} to ${quoteName(entry.linkpath ?? '')} points outside the archive`);
    }
    if (this.#resolve(entry.path) === undefined) {
      this.fail(`entry ${quoteName(entry.path)}: ${entry.type} target ${quoteName(entry.linkpath ?? '')} is not in the archive`);
    }
  }

  /**
   * Follow links component by component, as a filesystem would, but only through entries
   * of this index. Returns the file entry, 'directory', or undefined when nothing is there.
   */
  #resolve(path: string): TarEntry | 'directory' | undefined {
    let pending = path.split('/').filter((s) => s !== '');
    let done: string[] = [];
    let found: TarEntry | 'directory' = 'directory';
    // A link met again with the same path still to resolve is a loop; the same link met at
    // other points of a path (root/root/...) is not. Chains that grow hit MAX_LINK_HOPS.
    const states = new Set<string>();
    const hops: string[] = [];
    while (pending.length > 0) {
      const current = [...done, pending.shift()!].join('/');
      const entry = this.#byPath.get(current);
      if (entry && (entry.type === 'symlink' || entry.type === 'hardlink')) {
        if (entry.target === undefined) return undefined;
        const state = `${current}\0${pending.join('/')}`;
        hops.push(current);
        if (states.has(state) || hops.length > MAX_LINK_HOPS) {
          const shown = hops.slice(0, 8).map(quoteName).join(' -> ') + (hops.length > 8 ? ' -> ...' : '');
          this.fail(`entry ${quoteName(hops[0]!)}: link loop (${shown})`);
        }
        states.add(state);
        pending = [...entry.target.split('/').filter((s) => s !== ''), ...pending];
        done = [];
        found = 'directory';
        continue;
      }
      if (entry?.type === 'file') {
        if (pending.length > 0) return undefined;
        found = entry;
      } else if (!entry && !this.#dirs.has(current)) {
        return undefined;
      }
      done = current.split('/');
    }
    return found;
  }
}

async function readMagic(archive: string, fail: (message: string) => never): Promise<Buffer> {
  let fh;
  try {
    fh = await open(archive, 'r');
  } catch (err) {
    return fail(`cannot read the archive: ${(err as Error).message}`);
  }
  try {
    const buf = Buffer.alloc(8);
    const { bytesRead } = await fh.read(buf, 0, 8, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Decompress into `out`, refusing as early as possible what cannot be a tar: the first
 * block out of gzip must be a tar header (GiBs of zeros stop after one block, not after
 * filling the disk), and the output is capped by maxUnpackedBytes and by a share of the
 * space free in `workDir` when decompression starts.
 */
async function gunzip(archive: string, out: string, workDir: string, limits: ArchiveLimits, fail: (message: string, fix?: string) => never, signal?: AbortSignal): Promise<void> {
  const free = await freeBytes(workDir);
  const room = Math.floor((free * limits.maxUnpackedFreePercent) / 100);
  let total = 0;
  let head: Buffer | undefined = Buffer.alloc(0);
  const checkStart = (bytes: Buffer): void => {
    const first = bytes.subarray(0, BLOCK);
    if (first.length < BLOCK) fail(`not a tar archive: the gzip data decompresses to only ${bytes.length} bytes`);
    if (first.every((b) => b === 0)) fail('not a tar archive: the decompressed data starts with a zero block, so it holds no tar entry');
    if (!checksumValid(first)) fail('not a tar archive (no valid tar header at the start of the decompressed data)');
  };
  const checked = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const data of chunks) {
      let chunk = data;
      if (head) {
        head = Buffer.concat([head, chunk]);
        if (head.length < BLOCK) continue;
        checkStart(head);
        chunk = head;
        head = undefined;
      }
      total += chunk.length;
      if (total > limits.maxUnpackedBytes) {
        fail(`decompresses to more than ${limits.maxUnpackedBytes} bytes (limit maxUnpackedBytes; a tar bomb?)`, `if the archive is genuine, raise maxUnpackedBytes in ${LIMITS_VARIABLE}`);
      }
      if (total > room) {
        throw new OperationError(
          `decompressing needs more than ${room} bytes in ${workDir}: more than ${limits.maxUnpackedFreePercent}% of the ${free} bytes free there (limit maxUnpackedFreePercent)`,
          { where: archive, fix: `${SPACE_FIX}; or give raas the archive uncompressed; or raise maxUnpackedFreePercent in ${LIMITS_VARIABLE}` },
        );
      }
      yield chunk;
    }
    if (head) checkStart(head);
  };
  try {
    await pipeline(
      createReadStream(archive, { highWaterMark: 1024 ** 2 }),
      createGunzip({ chunkSize: 1024 ** 2 }),
      checked,
      createWriteStream(out),
      { signal },
    );
  } catch (err) {
    if (err instanceof InputError || err instanceof OperationError) throw err;
    if (signal?.aborted) throw signal.reason ?? err;
    if (isNoSpace(err)) throw noSpaceError(workDir, `decompressing ${archive}`, total, err);
    const code = (err as NodeJS.ErrnoException).code;
    if (code?.startsWith('Z_')) fail(`corrupt or truncated gzip data: ${(err as Error).message}`);
    throw err;
  }
}
