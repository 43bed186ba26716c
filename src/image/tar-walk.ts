import { open, type FileHandle } from 'node:fs/promises';
import { entryNameProblem, nameProblem, normalizeName, quoteName } from './entry-names.ts';
import type { ArchiveLimits } from './limits.ts';
import { BLOCK, decodeHeader, parsePax, type HeaderBlock, type PaxRecords } from './tar-header.ts';

/**
 * One pass over the 512-byte headers of a tar file, by offset. Bodies are skipped, never
 * read, except the small bodies of extension headers, so indexing a 50 GiB archive costs
 * a few reads per entry. Every construct that tar implementations read differently (and
 * that could therefore show raas other bytes than docker or skopeo see) is refused.
 */

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface RawEntry {
  /** Normalised archive path ("" is never recorded). */
  readonly path: string;
  readonly type: EntryType;
  /** Body length; 0 for anything but files. */
  readonly size: number;
  /** Offset of the body in the tar file. */
  readonly offset: number;
  /** Link target as written, for symlinks and hard links. */
  readonly linkpath: string | undefined;
}

export type Fail = (message: string) => never;

const TYPES: Readonly<Record<string, EntryType>> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '5': 'directory' };
const EXTENSIONS = new Set(['x', 'g', 'L', 'K']);
const SPECIAL: Readonly<Record<string, string>> = {
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
};
/** Why a type is unsupported, where there is more to say. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  S: ' (an old-format GNU sparse file: GNU tar and Go rebuild its body from a sparse map, other readers do not)',
};
/** Checking for an abort after this many headers keeps the check off the profile and the reaction well under a second. */
const SIGNAL_EVERY = 256;

/** Extension headers seen since the last real entry; they describe the next one. */
interface Pending {
  pax?: PaxRecords;
  longName?: string;
  longLink?: string;
}

const isZero = (block: Buffer): boolean => block.every((b) => b === 0);
const padded = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

export async function walkTar(file: string, limits: ArchiveLimits, fail: Fail, signal?: AbortSignal): Promise<RawEntry[]> {
  const fh = await open(file, 'r');
  try {
    return await walk(fh, (await fh.stat()).size, limits, fail, signal);
  } finally {
    await fh.close();
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

async function walk(fh: FileHandle, fileSize: number, limits: ArchiveLimits, fail: Fail, signal: AbortSignal | undefined): Promise<RawEntry[]> {
  const entries: RawEntry[] = [];
  let pending: Pending = {};
  let headers = 0;
  const hasPending = () => pending.pax !== undefined || pending.longName !== undefined || pending.longLink !== undefined;

  if (fileSize === 0) fail('not a tar archive (empty file)');
  let pos = 0;
  for (;;) {
    if (pos === fileSize) break; // some writers omit the end-of-archive blocks
    if (pos + BLOCK > fileSize) fail(`header at offset ${pos}: the archive ends inside a tar header (truncated)`);
    const block = await readAt(fh, pos, BLOCK);
    if (isZero(block)) {
      const next = await readAt(fh, pos + BLOCK, BLOCK);
      if (next.length === BLOCK && !isZero(next)) {
        fail(`offset ${pos}: a single zero block inside the archive, where tar readers disagree on whether the archive ends`);
      }
      break; // what follows the end-of-archive blocks is ignored, as every tar reader does
    }
    if (++headers > limits.maxEntries) fail(`more than ${limits.maxEntries} entries (limit maxEntries)`);
    if (headers % SIGNAL_EVERY === 0) signal?.throwIfAborted();

    const decoded = decodeHeader(block);
    if (!decoded.ok) {
      if (pos === 0 && decoded.problem === 'invalid header checksum') fail('not a tar archive (no valid tar header at the start)');
      fail(`header at offset ${pos} (entry ${quoteName(decoded.name)}): ${decoded.problem}`);
    }
    const header = decoded.header;
    const shown = quoteName(pending.longName ?? pending.pax?.path ?? header.name);
    const typeKey = header.typeflag;
    // A PAX size describes the next real entry; Go never applies it to an extension header.
    if (EXTENSIONS.has(typeKey) && pending.pax?.size !== undefined) fail(`entry ${shown}: a PAX size record followed by another extension header, which tar readers size differently`);
    const size = pending.pax?.size ?? header.size;
    const offset = pos + BLOCK;
    if (offset + size > fileSize) {
      fail(`entry ${shown}: declared size of ${size} bytes runs past the end of the archive (truncated or corrupt)`);
    }
    const body = async (): Promise<Buffer> => {
      if (size > limits.maxHeaderBytes) fail(`entry ${shown}: extension header of ${size} bytes exceeds the limit of ${limits.maxHeaderBytes} (limit maxHeaderBytes)`);
      return readAt(fh, offset, size);
    };

    switch (typeKey) {
      case 'x':
      case 'g': {
        const text = await body();
        if (text.includes(0)) fail(`entry ${shown}: NUL character in PAX header`);
        const records = parsePax(text);
        if (typeof records === 'string') fail(`header at offset ${pos} (entry ${shown}): ${records}`);
        if (typeKey === 'x') {
          // Go keeps only the last of two PAX headers, GNU tar and node-tar merge them.
          if (pending.pax) fail(`entry ${shown}: two PAX headers for one entry, which tar readers combine differently`);
          pending.pax = records;
        } else if (records.path !== undefined || records.linkpath !== undefined || records.size !== undefined) {
          // GNU tar applies a global header to every later entry; Go and docker ignore it.
          fail(`entry ${shown}: global PAX header sets a path, link or size, which tar readers apply differently`);
        }
        break;
      }
      case 'L':
      case 'K': {
        if ((typeKey === 'L' ? pending.longName : pending.longLink) !== undefined) {
          fail(`entry ${shown}: two GNU long ${typeKey === 'L' ? 'name' : 'link'} headers for one entry`);
        }
        const name = longName(await body(), shown, fail);
        if (typeKey === 'L') pending.longName = name;
        else pending.longLink = name;
        break;
      }
      default: {
        if (typeKey in SPECIAL) fail(`entry ${shown}: ${SPECIAL[typeKey]} (device files and FIFOs are not allowed)`);
        const type = TYPES[typeKey];
        if (type === undefined) fail(`entry ${shown}: unsupported tar entry type ${JSON.stringify(typeKey)}${UNSUPPORTED[typeKey] ?? ''}`);
        const entry = describe(header, type, size, offset, pending, limits, fail);
        if (entry) entries.push(entry);
        pending = {};
      }
    }
    pos = offset + padded(size);
  }
  if (hasPending()) fail('the archive ends with an extension header that describes no entry (truncated)');
  return entries;
}

function longName(body: Buffer, shown: string, fail: Fail): string {
  const text = body.toString('utf8');
  const nul = text.indexOf('\0');
  if (nul >= 0 && /[^\0]/.test(text.slice(nul))) fail(`entry ${shown}: NUL character in GNU long name`);
  return nul >= 0 ? text.slice(0, nul) : text;
}

function describe(
  header: HeaderBlock,
  type: EntryType,
  size: number,
  offset: number,
  pending: Pending,
  limits: ArchiveLimits,
  fail: Fail,
): RawEntry | undefined {
  if (pending.longName !== undefined && pending.pax?.path !== undefined) {
    fail(`entry ${quoteName(pending.longName)}: both a PAX path and a GNU long name, which tar readers resolve differently`);
  }
  if (pending.longLink !== undefined && pending.pax?.linkpath !== undefined) {
    fail(`entry ${quoteName(pending.longLink)}: both a PAX link path and a GNU long link, which tar readers resolve differently`);
  }
  const name = pending.longName ?? pending.pax?.path ?? header.name;
  const shown = quoteName(name);
  const problem = entryNameProblem(name, limits.maxPathBytes);
  if (problem) fail(`entry ${shown}: ${problem}`);
  // Go reads a V7 regular file ("\0") whose name ends in "/" as a directory, GNU tar does
  // so for "0" too; node-tar reads a file. Only a real directory may end in "/".
  if (type === 'file' && name.endsWith('/')) fail(`entry ${shown}: a file whose name ends in "/", which tar readers take for a directory or a file`);
  const path = normalizeName(name);

  let linkpath: string | undefined;
  if (type === 'symlink' || type === 'hardlink') {
    linkpath = pending.longLink ?? pending.pax?.linkpath ?? header.linkname;
    const linkProblem = nameProblem(linkpath, limits.maxPathBytes);
    if (linkProblem) fail(`entry ${shown}: link target: ${linkProblem}`);
    // Go's archive/tar treats link bodies as absent, other readers skip them: refuse the ambiguity.
    if (size !== 0) fail(`entry ${shown}: ${type} declares a body of ${size} bytes`);
  }
  if (path === '') {
    if (type === 'directory') return undefined;
    fail(`entry ${shown}: a ${type} in place of the archive root`);
  }
  return { path, type, size: type === 'file' ? size : 0, offset, linkpath };
}
