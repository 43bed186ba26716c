import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream, type Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { InputError, IntegrityError, OperationError, RaasError } from '../errors.ts';
import { isHex64 } from '../image/model.ts';
import { checkKey, checkPrefix, encodeKeyPath, withTrailingSlash } from './keys.ts';
import type { WriteJournal } from './journal.ts';
import type { ListedObject, PutResult, Store } from './store.ts';

export interface FileStoreOptions {
  readonly root: string;
  /** Where a web server publishes `root`; a file:// URL of it otherwise. */
  readonly publicUrl?: string;
  /** Where partial files are recorded until renamed into place or removed. */
  readonly journal?: WriteJournal;
}

export interface FileStore extends Store {
  readonly root: string;
  /** Create the storage directory (setup --create); check() never does. */
  ensure(): Promise<void>;
}

/**
 * Objects are plain files at their keys, so any static web server can publish the
 * directory. Bookkeeping hides in dot files beside them, which keys cannot name and
 * listings skip: the checksum in ".<name>.sha256" and writes in progress in
 * ".<name>.partial-<random>", renamed into place only when complete and verified.
 * Content types are not recorded: a web server derives them from its own configuration.
 */
export function createFileStore(options: FileStoreOptions): FileStore {
  const root = path.resolve(options.root);
  const location = withTrailingSlash(pathToFileURL(root).href);
  const base = options.publicUrl ? withTrailingSlash(options.publicUrl) : location;
  const { journal } = options;

  const pathOf = (key: string): string => {
    checkKey(key, `${location}${key}`);
    return path.join(root, ...key.split('/'));
  };

  /** Stream `source` into a new partial file beside `file`, flushed to disk; returns its path. */
  async function writePartial(file: string, source: Readable, onChunk?: (chunk: Buffer) => void, signal?: AbortSignal): Promise<string> {
    const partial = partialOf(file);
    journal?.started(location, partialKey(partial), path.basename(partial));
    try {
      await pipeline(
        source,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            onChunk?.(chunk);
            yield chunk;
          }
        },
        createWriteStream(partial, { flags: 'wx', flush: true }),
        { signal },
      );
      return partial;
    } catch (err) {
      await discard(partial);
      throw err;
    }
  }

  async function discard(partial: string): Promise<void> {
    await fs.rm(partial, { force: true });
    journal?.ended(path.basename(partial));
  }

  /** The key of the object a partial file belongs to (a checksum's partial belongs to its object). */
  const partialKey = (partial: string): string =>
    path.relative(root, path.join(path.dirname(partial), partialOwner(path.basename(partial))!)).split(path.sep).join('/');

  /** Rename into place; the checksum goes first, so an object is never visible without it. */
  async function commit(partial: string, file: string, sha256: string | undefined): Promise<void> {
    const sidecar = sidecarOf(file);
    if (sha256 === undefined) {
      await fs.rm(sidecar, { force: true });
    } else {
      const written = await writePartial(sidecar, Readable.from([Buffer.from(`${sha256}\n`)]));
      try {
        await fs.rename(written, sidecar);
      } finally {
        journal?.ended(path.basename(written));
      }
    }
    await fs.rename(partial, file);
    journal?.ended(path.basename(partial));
    await syncDirectory(path.dirname(file));
  }

  async function walk(keyPrefix: string): Promise<Dirent[]> {
    const directory = path.join(root, ...keyPrefix.slice(0, keyPrefix.lastIndexOf('/') + 1).split('/'));
    try {
      return await fs.readdir(directory, { recursive: true, withFileTypes: true });
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return [];
      throw failed(err, 'listing', directory);
    }
  }
  const keyOf = (entry: Dirent, name = entry.name): string =>
    path.relative(root, path.join(entry.parentPath, name)).split(path.sep).join('/');

  return {
    kind: 'file',
    location,
    root,
    access: 'public',

    async list(keyPrefix, { limit = Infinity } = {}) {
      checkPrefix(keyPrefix, location);
      const keys = (await walk(keyPrefix))
        .filter((entry) => entry.isFile())
        .map((entry) => keyOf(entry))
        .filter((key) => key.startsWith(keyPrefix) && !key.split('/').some((s) => s.startsWith('.')))
        .sort()
        .slice(0, limit);
      const found = new Map<string, ListedObject>();
      const sizes = await Promise.all(keys.map((key) => fs.stat(path.join(root, key)).then((s) => s.size, () => undefined)));
      keys.forEach((key, i) => {
        const size = sizes[i];
        // Deleted since the directory was read.
        if (size !== undefined) found.set(key, { size, etag: undefined });
      });
      return found;
    },

    async stat(key) {
      const file = pathOf(key);
      try {
        // lstat: a link is no object raas wrote, and is never followed out of the store.
        const info = await fs.lstat(file);
        return info.isFile() ? { size: info.size, sha256: await readSidecar(file) } : undefined;
      } catch (err) {
        if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
        throw failed(err, 'stat', file);
      }
    },

    async read(key, { maxBytes }) {
      const file = pathOf(key);
      let handle: fs.FileHandle | undefined;
      try {
        handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
        const info = await handle.stat();
        if (!info.isFile()) return undefined;
        if (info.size > maxBytes) throw new OperationError(`${file} is ${info.size} bytes, more than the ${maxBytes} raas reads whole`, { where: file });
        return { body: await handle.readFile(), contentType: undefined };
      } catch (err) {
        if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errno(err) ?? '')) return undefined;
        throw failed(err, 'reading', file);
      } finally {
        await handle?.close();
      }
    },

    async openRead(key, range) {
      const file = pathOf(key);
      let handle: fs.FileHandle | undefined;
      try {
        // Opened first, so a missing object is an answer rather than a stream error.
        handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
        if (!(await handle.stat()).isFile()) {
          await handle.close();
          return undefined;
        }
      } catch (err) {
        await handle?.close();
        if (['ENOENT', 'ENOTDIR', 'ELOOP', 'EISDIR'].includes(errno(err) ?? '')) return undefined;
        throw failed(err, 'reading', file);
      }
      return createReadStream('', { fd: handle, autoClose: true, ...(range ? { start: range.start, end: range.end } : {}) });
    },

    async put(key, body, { sha256: expected, onProgress, signal }): Promise<PutResult> {
      const file = pathOf(key);
      const hash = createHash('sha256');
      let size = 0;
      let partial: string | undefined;
      try {
        await fs.mkdir(path.dirname(file), { recursive: true });
        const source = Buffer.isBuffer(body) ? Readable.from([body]) : body.open();
        partial = await writePartial(file, source, (chunk) => {
          hash.update(chunk);
          size += chunk.length;
          onProgress?.(chunk.length);
        }, signal);
        const sha256 = hash.digest('hex');
        const declared = Buffer.isBuffer(body) ? body.length : body.size;
        if (size !== declared) {
          throw new IntegrityError(`read ${size} bytes where ${declared} were expected; nothing was stored`, {
            where: file,
            fix: 'the archive changed while it was read; do not modify it during an upload',
          });
        }
        if (expected !== undefined && expected.toLowerCase() !== sha256) {
          throw new IntegrityError(`content does not match sha256 ${expected}: read ${sha256}; nothing was stored`, {
            where: file,
            fix: 'the archive is corrupt or changed while it was read; export it again',
          });
        }
        await commit(partial, file, sha256);
        return { size, sha256 };
      } catch (err) {
        if (partial !== undefined) await discard(partial);
        throw failed(err, 'writing', file);
      }
    },

    async copy(fromKey, toKey) {
      const from = pathOf(fromKey);
      const to = pathOf(toKey);
      const partial = partialOf(to);
      journal?.started(location, toKey, path.basename(partial));
      try {
        await fs.mkdir(path.dirname(to), { recursive: true });
        await linkOrCopy(from, partial);
        await commit(partial, to, await readSidecar(from));
      } catch (err) {
        await discard(partial);
        if (errno(err) === 'ENOENT' && !(await exists(from))) {
          throw new OperationError(`cannot copy ${fromKey}: it does not exist`, { where: from });
        }
        throw failed(err, 'copying to', to);
      }
    },

    async delete(key) {
      const file = pathOf(key);
      try {
        // The object first: a crash in between leaves only a checksum, which stat ignores.
        await fs.rm(file, { force: true });
        await fs.rm(sidecarOf(file), { force: true });
      } catch (err) {
        throw failed(err, 'deleting', file);
      }
    },

    publicUrl(keyPrefix) {
      return base + encodeKeyPath(keyPrefix);
    },

    async check({ write }) {
      try {
        if (!(await fs.stat(root)).isDirectory()) throw new OperationError(`${root} is not a directory`, { where: root });
        await fs.readdir(root);
      } catch (err) {
        if (errno(err) === 'ENOENT') {
          throw new OperationError(`storage directory ${root} does not exist`, { where: root, fix: 'create it or run raas setup --create' });
        }
        throw failed(err, 'reading', root);
      }
      if (!write) return;
      const probe = path.join(root, `.raas-check-${randomBytes(6).toString('hex')}`);
      try {
        await fs.writeFile(probe, 'raas write check\n');
        await fs.rm(probe);
      } catch (err) {
        throw new OperationError(`storage directory ${root} is not writable (${errno(err) ?? (err as Error).message})`, {
          where: root,
          fix: 'give this user write permission, or use another storage_dir',
        });
      }
    },

    async abortIncomplete(key, id) {
      const file = pathOf(key);
      // The id comes from a journal file: only a partial of this very object may be removed.
      if (partialOwner(id) !== path.basename(file)) throw new InputError(`'${id}' is not a partial file of ${key}`, { where: `${location}${key}` });
      await fs.rm(path.join(path.dirname(file), id), { force: true });
    },

    async ensure() {
      try {
        await fs.mkdir(root, { recursive: true });
      } catch (err) {
        throw failed(err, 'creating', root);
      }
    },

    async close() {},
  };
}

const sidecarOf = (file: string): string => path.join(path.dirname(file), `.${path.basename(file)}.sha256`);
const partialOf = (file: string): string =>
  path.join(path.dirname(file), `.${path.basename(file)}.partial-${randomBytes(6).toString('hex')}`);

async function readSidecar(file: string): Promise<string | undefined> {
  try {
    const text = (await fs.readFile(sidecarOf(file), 'utf8')).trim();
    return isHex64(text) ? text : undefined;
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** The name of the object a partial file was writing (sidecar partials belong to their object), if it is one. */
function partialOwner(name: string): string | undefined {
  const match = /^\.(.+)\.partial-[0-9a-f]+$/.exec(name);
  return match?.[1]!.replace(/^\.(.+)\.sha256$/, '$1');
}

/** Objects are never modified in place, so a hard link is as good as a copy, and instant. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch (err) {
    if (!['EXDEV', 'EPERM', 'ENOTSUP', 'EMLINK'].includes(errno(err) ?? '')) throw err;
    await fs.copyFile(from, to, constants.COPYFILE_FICLONE);
    const handle = await fs.open(to, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** Make the renames durable: a completed put must survive a crash right after it. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const exists = (file: string): Promise<boolean> => fs.access(file).then(() => true, () => false);

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException)?.code;

function failed(err: unknown, doing: string, file: string): unknown {
  if (err instanceof RaasError || (err as Error)?.name === 'AbortError') return err;
  return new OperationError(`${doing} ${file} failed: ${(err as Error)?.message ?? String(err)}`, { where: file });
}
