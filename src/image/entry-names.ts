/**
 * Rules for names inside an archive. raas never extracts archives, but the names still
 * decide which bytes get published under which id, so anything another tool could read
 * differently (a Windows path, a name hiding a control sequence, a traversal) is refused
 * rather than normalised away.
 */

// C0/C1 controls and DEL can rewrite terminal output and logs; none occur in image archives.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
// Characters that make a name display as something it is not.
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/u;

const codePoint = (ch: string): string => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** Why `name` (an entry name or link target as written) is unacceptable, if it is. */
export function nameProblem(name: string, maxBytes: number): string | undefined {
  if (name === '') return 'empty name';
  if (Buffer.byteLength(name) > maxBytes) return `name longer than ${maxBytes} bytes`;
  if (name.includes('\ufffd')) return 'name is not valid UTF-8';
  if (name.includes('\0')) return 'NUL character in name';
  const control = CONTROL.exec(name);
  if (control) return `control character ${codePoint(control[0])} in name`;
  const invisible = INVISIBLE.exec(name);
  if (invisible) return `invisible or bidirectional-control character ${codePoint(invisible[0])} in name`;
  if (name.includes('\\')) return 'backslash in name (Windows path separator)';
  if (/^[A-Za-z]:/.test(name)) return 'Windows drive path';
  return undefined;
}

/** Checks that only apply to entry names (link targets are resolved instead). */
export function entryNameProblem(name: string, maxBytes: number): string | undefined {
  const problem = nameProblem(name, maxBytes);
  if (problem) return problem;
  if (name.startsWith('/')) return 'absolute path';
  if (name.split('/').includes('..')) return '".." segment (path traversal)';
  return undefined;
}

/** "./a//b/" -> "a/b"; the archive root is "". */
export const normalizeName = (name: string): string =>
  name
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');

/**
 * Where a link points, as a normalised archive path, or undefined when it leaves the
 * archive. Symlink targets are relative to the link's directory; hard link targets name
 * an archive path.
 */
export function linkTarget(entryPath: string, kind: 'symlink' | 'hardlink', target: string): string | undefined {
  if (target.startsWith('/')) return undefined;
  const out = kind === 'symlink' ? entryPath.split('/').slice(0, -1) : [];
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else {
      out.push(segment);
    }
  }
  return out.join('/');
}

/**
 * Two names that differ only in Unicode normalisation or case are the same file on macOS
 * and Windows and look the same to people. Upper- then lower-casing approximates full
 * case folding (it maps "ß" and "SS" together, which toLowerCase alone does not).
 */
export const foldKey = (path: string): string => path.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');

// Beyond what JSON.stringify escapes: C1 controls, invisible and bidi characters, line
// separators, and combining accents (so that names differing only in normalisation look different).
const UNSAFE_FOR_DISPLAY = /[\u007f-\u009f\u0300-\u036f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;

/** A name quoted for messages, with every character that could hide or reorder text escaped. */
export const quoteName = (name: string): string =>
  JSON.stringify(name).replace(UNSAFE_FOR_DISPLAY, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
