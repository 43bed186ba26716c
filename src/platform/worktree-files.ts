import { randomBytes } from 'node:crypto';
import { constants, existsSync, type Dirent, type Stats } from 'node:fs';
import { lstat, mkdir, open, opendir, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { InputError, OperationError, RaasError } from '../errors.ts';

/**
 * Reading and writing inside a git working copy whose content someone else controls (the
 * Crane app repository, the configuration repository): whoever can push there decides what
 * a clone holds, symbolic links and all. Every path is walked from the working copy's root
 * one component at a time; no link is followed at any component, and a component of the
 * wrong kind (a file where a directory must be, a directory, FIFO or device where a file
 * must be) is an error that says what to change. Each directory is held open while it is
 * used and later components are resolved through that descriptor (/proc/self/fd/N on
 * Linux, where no openat(2) is available to Node), so a directory swapped for a link
 * underneath cannot redirect a read or a write. Files are replaced through a temporary file
 * and a rename in their (held) directory, never written through; FIFOs are never opened
 * for reading or writing before they are known to be files.
 */

/** Where a directory's descriptor can be used as a path prefix (Linux). Elsewhere: the checked path itself. */
const FD_PATHS = existsSync('/proc/self/fd');
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** Bounds of a directory walk besides the bytes read: entries of any kind, and nesting. */
const MAX_ENTRIES = 100_000;
const MAX_DEPTH = 32;

export interface WorktreeFile {
  /** Relative to the directory listed, "/"-separated. */
  readonly name: string;
  readonly text: string;
}

function kindOf(info: Stats): string {
  if (info.isSymbolicLink()) return 'a symbolic link';
  if (info.isDirectory()) return 'a directory';
  if (info.isFile()) return 'a file';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  return 'a device';
}

const code = (error: unknown): string | undefined => (error as NodeJS.ErrnoException)?.code;

/** A directory held open while paths below it are resolved. */
interface HeldDir {
  /** The path later components are joined to. */
  readonly base: string;
  /** Repository-relative, for messages ("" for the root). */
  readonly rel: string;
  close(): Promise<void>;
}

export interface ReadOptions {
  /** Larger files are refused, naming the file: nothing unbounded is read from a clone. */
  readonly maxBytes: number;
}

export class WorktreeFiles {
  readonly root: string;
  /** "Crane app repository", for messages. */
  readonly what: string;

  constructor(root: string, what: string) {
    this.root = root;
    this.what = what;
  }

  /** `rel` is of the wrong kind: say what it is and how to fix it. */
  wrongKind(rel: string, found: string, wanted: 'a file' | 'a directory'): InputError {
    return new InputError(`${rel} in the ${this.what} is ${found}, where raas needs ${wanted}${found === 'a symbolic link' ? ': raas never follows links inside a repository' : ''}`, {
      where: `${this.what} ${rel}`,
      fix: `replace it with ${wanted === 'a file' ? 'a regular file' : 'a directory'} (or remove it) in the ${this.what}, commit and push, then run raas again`,
    });
  }

  /**
   * Fails as a read or write of `rel` would, without changing anything: each existing
   * component must be a directory, and `rel` itself, if it exists, `wanted`.
   */
  async check(rel: string, wanted: 'a file' | 'a directory'): Promise<void> {
    return this.#guard('check', rel, async () => {
      const { dir, name } = splitFile(rel);
      const held = await this.#openDir(dir, false);
      if (!held) return;
      try {
        const info = await lstat(`${held.base}/${name}`).catch((error) => {
          if (code(error) === 'ENOENT') return undefined;
          throw error;
        });
        const ok = !info || (wanted === 'a file' ? info.isFile() : info.isDirectory());
        if (!ok) throw this.wrongKind(join(held.rel, name), kindOf(info!), wanted);
      } finally {
        await held.close();
      }
    });
  }

  /** The file's text, or undefined when there is none at `rel`. */
  async read(rel: string, options: ReadOptions): Promise<string | undefined> {
    return this.#guard('read', rel, async () => {
      const { dir, name } = splitFile(rel);
      const held = await this.#openDir(dir, false);
      if (!held) return undefined;
      try {
        return await this.#readIn(held, name, options);
      } finally {
        await held.close();
      }
    });
  }

  /** Replaces (or creates) `rel` with `text`, creating the directories on the way. */
  async write(rel: string, text: string): Promise<void> {
    return this.#guard('write', rel, async () => {
      const { dir, name } = splitFile(rel);
      const held = (await this.#openDir(dir, true))!;
      try {
        await this.#writeIn(held, name, text);
      } finally {
        await held.close();
      }
    });
  }

  /** Writes each file as `<dir>/<name>`; returns the repository-relative paths written. */
  async writeAll(dir: string, files: readonly WorktreeFile[]): Promise<string[]> {
    return this.#guard('write', dir, async () => {
      const held = (await this.#openDir(splitDir(dir), true))!;
      try {
        for (const file of files) await this.#writeIn(held, plainName(file.name, join(held.rel, file.name)), file.text);
        return files.map((f) => join(held.rel, f.name));
      } finally {
        await held.close();
      }
    });
  }

  /** Appends whole lines to `rel` (a file without a final newline gets one first), creating it and its directories. */
  async appendLines(rel: string, lines: string): Promise<void> {
    return this.#guard('append to', rel, async () => {
      const { dir, name } = splitFile(rel);
      const held = (await this.#openDir(dir, true))!;
      let handle: FileHandle;
      try {
        // O_NOFOLLOW with O_CREAT: a link at the name fails instead of creating or opening its target.
        handle = await open(`${held.base}/${name}`, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o666);
      } catch (error) {
        // Explained while the directory is still held: its descriptor is the path.
        const explained = await this.#explain(held, name, error, 'a file');
        await held.close();
        throw explained;
      }
      try {
        const info = await handle.stat();
        if (!info.isFile()) throw this.wrongKind(join(held.rel, name), kindOf(info), 'a file');
        if (info.nlink > 1) throw this.wrongKind(join(held.rel, name), 'a file with other hard links', 'a file');
        let prefix = '';
        if (info.size > 0) {
          const last = Buffer.alloc(1);
          await handle.read(last, 0, 1, info.size - 1);
          if (last[0] !== 0x0a) prefix = '\n';
        }
        await handle.write(prefix + lines);
      } finally {
        await handle.close();
        await held.close();
      }
    });
  }

  /**
   * Every `*.json` under `dir` at any depth (only in `dir` itself unless `recursive`), sorted by name; none when `dir` does not
   * exist. Other files are not read. A link anywhere below `dir`, or a `*.json` that is
   * not a file, is an error, as is a file larger than maxBytes or more than maxTotalBytes
   * in all.
   */
  async listJson(
    dir: string,
    options: ReadOptions & { readonly maxTotalBytes: number; readonly maxFiles: number; readonly recursive?: boolean },
  ): Promise<WorktreeFile[]> {
    return this.#guard('read', dir, async () => {
      const top = await this.#openDir(splitDir(dir), false);
      if (!top) return [];
      const out: WorktreeFile[] = [];
      let total = 0;
      let seen = 0;
      const tooMany = (what: string) =>
        new InputError(`${this.#relOf(top)} in the ${this.what} holds ${what}`, { where: `${this.what} ${this.#relOf(top)}`, fix: 'remove what is not Crane metadata from it' });
      const walk = async (held: HeldDir, prefix: string, depth: number): Promise<void> => {
        if (depth > MAX_DEPTH) throw tooMany(`directories nested more than ${MAX_DEPTH} deep`);
        // Read as a stream, so that a directory of millions of entries is refused without being held in memory.
        const entries: Dirent[] = [];
        for await (const entry of await opendir(held.base)) {
          if (++seen > MAX_ENTRIES) throw tooMany(`more than ${MAX_ENTRIES} entries`);
          entries.push(entry);
        }
        entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const entry of entries) {
          const rel = join(held.rel, entry.name);
          const name = prefix ? `${prefix}/${entry.name}` : entry.name;
          if (entry.isSymbolicLink()) throw this.wrongKind(rel, 'a symbolic link', entry.name.endsWith('.json') ? 'a file' : 'a directory');
          if (entry.isDirectory()) {
            // Crane would walk into it, but a *.json name is where raas reads and writes redirect files.
            if (entry.name.endsWith('.json')) throw this.wrongKind(rel, 'a directory', 'a file');
            if (options.recursive === false) continue;
            const child = await this.#openChild(held, entry.name, false);
            if (!child) continue;
            try {
              await walk(child, name, depth + 1);
            } finally {
              await child.close();
            }
            continue;
          }
          if (!entry.name.endsWith('.json')) continue;
          if (out.length >= options.maxFiles) throw tooMany(`more than ${options.maxFiles} *.json files`);
          const text = (await this.#readIn(held, entry.name, options))!;
          total += Buffer.byteLength(text);
          if (total > options.maxTotalBytes) {
            throw new InputError(`the *.json files in ${this.#relOf(top)} in the ${this.what} hold more than ${options.maxTotalBytes} bytes (reached at ${rel})`, {
              where: `${this.what} ${rel}`, fix: 'remove what is not Crane metadata from the directory',
            });
          }
          out.push({ name, text });
        }
      };
      try {
        await walk(top, '', 0);
      } finally {
        await top.close();
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    });
  }

  /** Errors that are not already a clear refusal (EACCES, EIO, ...) name the path instead of surfacing raw. */
  async #guard<T>(verb: string, rel: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof RaasError) throw error;
      const why = code(error) ?? (error instanceof Error ? error.message : String(error));
      throw new OperationError(`cannot ${verb} ${rel || '.'} in the ${this.what}: ${why}`, {
        where: `${this.what} ${rel || '.'}`,
        fix: 'check that the working copy is readable and writable by this user, and that the disk is not full',
        cause: error,
      });
    }
  }

  #relOf(held: HeldDir): string {
    return held.rel || '.';
  }

  async #readIn(held: HeldDir, name: string, options: ReadOptions): Promise<string | undefined> {
    const rel = join(held.rel, name);
    let handle: FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
      handle = await open(`${held.base}/${name}`, READ_FLAGS);
    } catch (error) {
      if (code(error) === 'ENOENT') return undefined;
      throw await this.#explain(held, name, error, 'a file');
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw this.wrongKind(rel, kindOf(info), 'a file');
      if (info.size > options.maxBytes) throw this.#tooLarge(rel, info.size, options.maxBytes);
      // Read at most one byte past the limit: a file that grows while it is read is caught too.
      const buffer = Buffer.alloc(Math.min(info.size, options.maxBytes) + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > options.maxBytes) throw this.#tooLarge(rel, length, options.maxBytes);
        if (length === buffer.length) break;
      }
      return buffer.subarray(0, length).toString('utf8');
    } finally {
      await handle.close();
    }
  }

  #tooLarge(rel: string, size: number, max: number): InputError {
    return new InputError(`${rel} in the ${this.what} is ${size} bytes, more than the ${max} raas reads from it`, {
      where: `${this.what} ${rel}`,
      fix: 'remove the file from the repository (commit and push), or move it out of the directory raas reads',
    });
  }

  async #writeIn(held: HeldDir, name: string, text: string): Promise<void> {
    const rel = join(held.rel, name);
    const existing = await lstat(`${held.base}/${name}`).catch((error) => {
      if (code(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (existing && !existing.isFile()) throw this.wrongKind(rel, kindOf(existing), 'a file');
    const temp = `${held.base}/.raas-${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o666);
    try {
      await handle.writeFile(text);
    } catch (error) {
      // A full disk leaves no half-written temporary file behind.
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    try {
      // rename(2) replaces the name in this directory, whatever it became since the check:
      // a link put there meanwhile is replaced, never written through.
      await rename(temp, `${held.base}/${name}`);
    } catch (error) {
      await rm(temp, { force: true });
      throw await this.#explain(held, name, error, 'a file');
    }
  }

  /** The directory `segments` below the root, held open; undefined when missing and not `create`. */
  async #openDir(segments: readonly string[], create: boolean): Promise<HeldDir | undefined> {
    let held: HeldDir;
    try {
      held = await holdDir(this.root, '');
    } catch (error) {
      // A root that does not exist holds nothing (a data directory not created yet).
      if (code(error) === 'ENOENT' && !create) return undefined;
      throw error;
    }
    for (const segment of segments) {
      let child: HeldDir | undefined;
      try {
        child = await this.#openChild(held, segment, create);
      } finally {
        await held.close();
      }
      if (!child) return undefined;
      held = child;
    }
    return held;
  }

  async #openChild(held: HeldDir, name: string, create: boolean): Promise<HeldDir | undefined> {
    const rel = join(held.rel, name);
    const at = `${held.base}/${name}`;
    let info = await lstat(at).catch((error) => {
      if (code(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (!info) {
      if (!create) return undefined;
      await mkdir(at).catch((error) => {
        if (code(error) !== 'EEXIST') throw error;
      });
      info = await lstat(at);
    }
    if (!info.isDirectory()) throw this.wrongKind(rel, kindOf(info), 'a directory');
    try {
      return await holdDir(at, rel);
    } catch (error) {
      throw await this.#explain(held, name, error, 'a directory');
    }
  }

  /** An errno from open/rename as the wrong-kind message it stands for, when it stands for one. */
  async #explain(held: HeldDir, name: string, error: unknown, wanted: 'a file' | 'a directory'): Promise<unknown> {
    const rel = join(held.rel, name);
    const info = await lstat(`${held.base}/${name}`).catch(() => undefined);
    if (info && (code(error) === 'ELOOP' || code(error) === 'ENOTDIR' || code(error) === 'EISDIR' || info.isSymbolicLink())) {
      return this.wrongKind(rel, kindOf(info), wanted);
    }
    return error;
  }
}

async function holdDir(at: string, rel: string): Promise<HeldDir> {
  if (!FD_PATHS) return { base: at, rel, close: async () => undefined };
  const handle = await open(at, DIR_FLAGS);
  return { base: `/proc/self/fd/${handle.fd}`, rel, close: () => handle.close() };
}

const join = (dir: string, name: string): string => (dir ? `${dir}/${name}` : name);

/** Segments of a repository-relative directory ("" or "." is the root). */
function splitDir(dir: string): string[] {
  return dir.split(/[\\/]+/).filter((s) => s !== '' && s !== '.').map((s) => plainName(s, dir));
}

function splitFile(rel: string): { dir: string[]; name: string } {
  const segments = splitDir(rel);
  const name = segments.pop();
  if (name === undefined) throw new InputError(`'${rel}' names no file`, { where: rel });
  return { dir: segments, name };
}

/** A single path component raas may create or open: never "..", a separator or NUL. */
function plainName(name: string, where: string): string {
  if (!name || name === '..' || /[\\/\0]/.test(name)) {
    throw new InputError(`'${name}' is not a plain file name`, { where, fix: 'use a name without "/", "\\", NUL or ".."' });
  }
  return name;
}

/** For paths given as absolute: the part of `target` below `root`, or undefined when it is not below it. */
export function relativeInside(root: string, target: string): string | undefined {
  const rel = path.relative(path.resolve(root), path.resolve(target));
  if (rel === '') return '';
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel.split(path.sep).join('/');
}
