/**
 * Decoding of tar header blocks and PAX records as strictly as the strictest of the
 * readers that matter (GNU tar, and Go's archive/tar, which `docker load` uses). Where
 * those readers disagree on what a field means, the field is refused rather than read
 * one way: an archive that raas reads one way and docker another could publish bytes
 * nobody reviewed. RELIABILITY.md ("Reading a tar") lists each rule and how each reader
 * behaves.
 */

export const BLOCK = 512;

export interface HeaderBlock {
  /** `name`, with the ustar `prefix` joined in front when the format has one. */
  readonly name: string;
  readonly linkname: string;
  /** The typeflag byte as a character; "\0" stays "\0". */
  readonly typeflag: string;
  /** Body length from the size field (octal or positive base-256). */
  readonly size: number;
}

/** A field's problem, in words, or the decoded header. */
export type Decoded = { readonly ok: true; readonly header: HeaderBlock } | { readonly ok: false; readonly problem: string; readonly name: string };

const cString = (block: Buffer, start: number, length: number): Buffer => {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return nul < 0 ? field : field.subarray(0, nul);
};

/**
 * An octal field: Go trims NULs and spaces on both sides and parses the rest as octal
 * (stopping at an inner NUL); GNU tar skips leading spaces and stops at the first
 * non-digit, which must be a space or NUL. Both agree when what is left after trimming is
 * only octal digits up to the first NUL; anything else is refused.
 */
function octal(field: Buffer): number | undefined {
  const text = field.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  const digits = text.split('\0')[0]!;
  if (!/^[0-7]{1,21}$/.test(digits)) return undefined;
  const n = parseInt(digits, 8);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * A numeric field, octal or base-256 (the first byte 0x80 for positive, 0xff for negative
 * numbers, as GNU tar writes sizes past 8 GiB). Negative values are refused: no size,
 * checksum or id raas reads may be negative.
 */
function numeric(field: Buffer): { value: number } | { problem: string } {
  if ((field[0]! & 0x80) === 0) {
    const value = octal(field);
    return value === undefined ? { problem: `not an octal number (${JSON.stringify(field.toString('latin1').replace(/\0+$/, ''))})` } : { value };
  }
  if (field[0] !== 0x80) return { problem: 'a negative base-256 number' };
  let value = 0;
  for (const byte of field.subarray(1)) {
    value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) return { problem: 'a base-256 number too large' };
  }
  return { value };
}

/** Unsigned and signed sums of the block with the checksum field read as spaces; both Go and GNU tar accept either. */
function checksums(block: Buffer): [number, number] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return [unsigned, signed];
}

/** Whether a 512-byte block is a tar header whose checksum field holds its checksum. */
export function checksumValid(block: Buffer): boolean {
  const stored = octal(block.subarray(148, 156));
  return stored !== undefined && checksums(block).includes(stored);
}

const USTAR = Buffer.from('ustar\x0000', 'latin1');
const STAR_TRAILER = Buffer.from('tar\0', 'latin1');

/** Decode one header block (the caller has checked it is not a zero block). */
export function decodeHeader(block: Buffer): Decoded {
  const ownName = cString(block, 0, 100).toString('utf8');
  const fail = (problem: string): Decoded => ({ ok: false, problem, name: ownName });
  if (!checksumValid(block)) return fail('invalid header checksum');
  const size = numeric(block.subarray(124, 136));
  if ('problem' in size) return fail(`invalid size field: ${size.problem}`);

  let name = ownName;
  // Only POSIX ustar (magic "ustar\0", version "00") has a prefix; GNU's "ustar  " headers
  // keep other fields there. Go takes a header that also ends in "tar\0" for star, whose
  // prefix is 131 bytes, not 155: with such a trailer, a prefix is refused.
  if (block.subarray(257, 265).equals(USTAR)) {
    const prefix = cString(block, 345, 155);
    if (prefix.length > 0 && block.subarray(508, 512).equals(STAR_TRAILER)) {
      return fail('a ustar prefix in a header that also looks like star format, which tar readers split differently');
    }
    if (prefix.length > 0) name = `${prefix.toString('utf8')}/${ownName}`;
  }
  return {
    ok: true,
    header: { name, linkname: cString(block, 157, 100).toString('utf8'), typeflag: String.fromCharCode(block[156]!), size: size.value },
  };
}

/** The PAX records raas acts on; every other record is checked where readers could reject it, then ignored. */
export interface PaxRecords {
  path?: string;
  linkpath?: string;
  size?: number;
  /** Keys seen, for the rules on global headers. */
  readonly keys: string[];
}

// Decimal integers as GNU tar reads them (digits only). Go's strconv.ParseInt also takes a
// sign ("+16", "-1") where GNU tar refuses the header, and node-tar read "0x10" and "1e3".
const DECIMAL = /^[0-9]{1,16}$/;
// Times are seconds with an optional fraction; GNU tar allows a minus sign here.
const TIME = /^-?[0-9]{1,19}(?:\.[0-9]{1,19})?$/;
const NUMERIC_KEYS = new Set(['size', 'uid', 'gid']);
const TIME_KEYS = new Set(['mtime', 'atime', 'ctime']);

/**
 * Parse the body of a PAX extended header ("<length> <key>=<value>\n" records) as Go's
 * parsePAX does: a record whose length is not a plain decimal, does not end in a newline
 * or has no "=" is an error (node-tar skipped it silently). Returns a problem in words.
 */
export function parsePax(body: Buffer): PaxRecords | string {
  const records: PaxRecords = { keys: [] };
  let rest = body;
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    const lengthText = space < 0 ? '' : rest.subarray(0, space).toString('latin1');
    const length = DECIMAL.test(lengthText) ? Number(lengthText) : Number.NaN;
    if (!(length >= 5 && length <= rest.length) || rest[length - 1] !== 0x0a) return 'malformed PAX record (bad length or no newline)';
    const record = rest.subarray(space + 1, length - 1);
    rest = rest.subarray(length);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) return 'malformed PAX record (no key=value)';
    const key = record.subarray(0, eq).toString('utf8');
    const value = record.subarray(eq + 1).toString('utf8');
    if (key.startsWith('GNU.sparse.')) {
      // Go and GNU tar rename the entry (GNU.sparse.name) and rebuild its body from a sparse
      // map; node-tar and other readers do neither, so two names or two bodies could be seen.
      return `GNU sparse file record ${JSON.stringify(key)}: sparse entries are not supported, as tar readers disagree on their name and content`;
    }
    if (records.keys.includes(key) && (key === 'path' || key === 'linkpath' || key === 'size')) return `PAX record ${JSON.stringify(key)} given twice`;
    records.keys.push(key);
    if (NUMERIC_KEYS.has(key) && !DECIMAL.test(value)) return `PAX record ${key}=${JSON.stringify(value)} is not a decimal integer`;
    if (TIME_KEYS.has(key) && !TIME.test(value)) return `PAX record ${key}=${JSON.stringify(value)} is not a decimal time`;
    if (key === 'path') records.path = value;
    else if (key === 'linkpath') records.linkpath = value;
    else if (key === 'size') {
      const n = Number(value);
      if (!Number.isSafeInteger(n)) return `PAX record size=${value} is too large`;
      records.size = n;
    }
  }
  return records;
}
