import { quoteName } from './entry-names.ts';
import { isDigest, sha256Hex } from './digest.ts';
import type { ArchiveLimits } from './limits.ts';
import type { Digest } from './model.ts';
import type { TarEntry, TarIndex } from './tar-index.ts';

/**
 * Reading JSON metadata from an archive with its size and nesting capped, and checking
 * its shape with messages that say which entry and which field is wrong.
 */

export type Fail = (rule: string) => never;

export interface JsonFile {
  readonly path: string;
  readonly bytes: Buffer;
  readonly value: unknown;
  /** Throw an InputError about this file. */
  readonly fail: Fail;
}

/**
 * What one archive's metadata has cost so far. An archive may name one file many times
 * (an index listing one manifest 300 times, manifest.json naming one config 100 times):
 * each file is read and parsed once, and only distinct files count towards
 * maxMetadataBytes, so time and memory follow the archive's size, not its references.
 */
interface Spent {
  readonly files: Map<string, Promise<JsonFile>>;
  readonly entries: Set<TarEntry>;
  bytes: number;
  descriptors: number;
}

const spending = new WeakMap<TarIndex, Spent>();

function spentOn(index: TarIndex): Spent {
  let spent = spending.get(index);
  if (!spent) {
    spent = { files: new Map(), entries: new Set(), bytes: 0, descriptors: 0 };
    spending.set(index, spent);
  }
  return spent;
}

/** Count `n` more descriptors against maxDescriptors (index entries, configs, layers, manifest.json items). */
export function countDescriptors(index: TarIndex, n: number, limits: ArchiveLimits, where: string): void {
  const spent = spentOn(index);
  spent.descriptors += n;
  if (spent.descriptors > limits.maxDescriptors) {
    index.fail(`${where}: more than ${limits.maxDescriptors} descriptors in the archive's metadata (limit maxDescriptors)`);
  }
}

/** A JSON metadata entry, read and parsed once per archive however often it is named. */
export function readJsonEntry(index: TarIndex, path: string, limits: ArchiveLimits): Promise<JsonFile> {
  const spent = spentOn(index);
  let file = spent.files.get(path);
  if (!file) {
    file = readOnce(index, path, limits, spent);
    spent.files.set(path, file);
  }
  return file;
}

async function readOnce(index: TarIndex, path: string, limits: ArchiveLimits, spent: Spent): Promise<JsonFile> {
  const fail: Fail = (rule) => index.fail(`entry ${quoteName(path)}: ${rule}`);
  const entry = index.file(path) ?? fail('is not in the archive');
  if (entry.size > limits.maxJsonBytes) {
    fail(`JSON metadata of ${entry.size} bytes exceeds the limit of ${limits.maxJsonBytes} (limit maxJsonBytes; a JSON bomb?)`);
  }
  if (!spent.entries.has(entry)) {
    spent.entries.add(entry);
    spent.bytes += entry.size;
    if (spent.bytes > limits.maxMetadataBytes) {
      fail(`the archive's JSON metadata adds up to more than ${limits.maxMetadataBytes} bytes (limit maxMetadataBytes)`);
    }
  }
  const bytes = await index.read(entry);
  return { path, bytes, value: parseJson(bytes, limits.maxJsonDepth, fail), fail };
}

export function parseJson(bytes: Buffer, maxDepth: number, fail: Fail): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('JSON is not valid UTF-8');
  }
  if (nestingDepth(text) > maxDepth) fail(`JSON nested deeper than ${maxDepth} levels (limit maxJsonDepth)`);
  try {
    return JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON: ${(err as Error).message}`);
  }
}

/** Deepest array/object nesting, found without building anything (so a deep document cannot exhaust the stack). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function asObject(v: unknown, what: string, fail: Fail): Record<string, unknown> {
  return isObject(v) ? v : fail(`${what} is not a JSON object`);
}

export function asArray(v: unknown, what: string, fail: Fail): unknown[] {
  return Array.isArray(v) ? v : fail(`${what} is not a JSON array`);
}

export function asString(v: unknown, what: string, fail: Fail): string {
  return typeof v === 'string' ? v : fail(`${what} is not a string`);
}

/** Absent, null and "" all mean "not set" in Docker's JSON. */
export function asOptionalString(v: unknown, what: string, fail: Fail): string | undefined {
  return v === undefined || v === null || v === '' ? undefined : asString(v, what, fail);
}

export function asStringArray(v: unknown, what: string, fail: Fail): string[] {
  return asArray(v, what, fail).map((item, i) => asString(item, `${what}[${i}]`, fail));
}

export function asDigest(v: unknown, what: string, fail: Fail): Digest {
  const s = asString(v, what, fail);
  if (isDigest(s)) return s;
  return fail(
    /^[a-z0-9]+([+._-][a-z0-9]+)*:/.test(s) && !s.startsWith('sha256:')
      ? `${what} uses an unsupported digest algorithm (${JSON.stringify(s.split(':')[0])}; only sha256 is supported)`
      : `${what} is not a sha256 digest: ${JSON.stringify(s.slice(0, 80))}`,
  );
}

export function asSize(v: unknown, what: string, fail: Fail): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(`${what} is not a byte count`);
}

const NAMED_BLOB = /^(?:blobs\/sha256\/([0-9a-f]{64})|([0-9a-f]{64})\.json)$/;

/** The sha256 hex a metadata entry is named by (`blobs/sha256/<hex>`, `<hex>.json`), if it is. */
export const namedDigestHex = (path: string): string | undefined => {
  const m = NAMED_BLOB.exec(path);
  return m?.[1] ?? m?.[2];
};

/** Refuse a metadata file whose bytes do not hash to `hex`. */
export function verifySha256(file: JsonFile, hex: string): void {
  const actual = sha256Hex(file.bytes);
  if (actual !== hex) file.fail(`content does not match its digest: expected sha256:${hex}, found sha256:${actual}`);
}
