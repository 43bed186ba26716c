/**
 * The name rules the original tool enforced (reference.md section 5). Each check returns
 * undefined when the name is fine, or the rule it breaks, phrased so it can follow
 * "'<value>' is not a valid <what>: ".
 */
export type NameRule = (value: string) => string | undefined;

const rule = (pattern: RegExp, text: string): NameRule => (value) => (pattern.test(value) ? undefined : text);

export const isvRule: NameRule = rule(/^[a-z0-9]{1,16}$/, 'use 1 to 16 letters or digits');

export const bucketRule: NameRule = (value) => {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value)) {
    return 'use 3 to 63 of a-z, 0-9, "." and "-", starting and ending with a letter or digit';
  }
  if (/\.\.|^\d+\.\d+\.\d+\.\d+$/.test(value)) return 'no ".." and not an IP address';
  return undefined;
};

export const domainRule: NameRule = rule(/^[a-zA-Z0-9]{1,16}$/, 'use 1 to 16 letters or digits');
export const appRule: NameRule = rule(/^[a-zA-Z0-9]{1,32}$/, 'use 1 to 32 letters or digits');

export const imageRule: NameRule = (value) => {
  const parts = value.split('/');
  if (parts.length > 2) return 'use "name" or "namespace/name", with at most one "/"';
  const name = parts.at(-1)!;
  if (parts.length === 2 && !/^[a-z0-9_]{4,30}$/.test(parts[0]!)) {
    return 'the namespace must be 4 to 30 of a-z, 0-9 and "_"';
  }
  if (!/^[a-z0-9_.-]+$/.test(name) || name === '.' || name === '..') {
    return 'the name must be made of a-z, 0-9, "-", "_" and "."';
  }
  return undefined;
};

export const tagRule: NameRule = rule(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'use up to 128 of A-Z, a-z, 0-9, "_", "." and "-", not starting with "." or "-"');

/** `acme/app` -> `acme-app`: how image names appear in S3 keys and file names. */
export const flatImageName = (image: string): string => image.replace('/', '-');

/**
 * A directory inside a git working copy, given relative to its root (crane_data_dir):
 * "/"-separated, no empty, "." or ".." segment, and never git's own directory, in any case
 * and in the spellings other file systems take for it (".git.", "git~1"): files raas put
 * there would be git's state, not content of the repository.
 */
export const repoPathRule: NameRule = (value) => {
  if (value === '' || value.startsWith('/') || /^[a-z]:/i.test(value)) return 'use a path relative to the repository root, such as crane/data';
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return 'use "/" between directories, and no control characters';
  const segments = value.replace(/\/$/, '').split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return 'no empty, "." or ".." components';
  if (segments.some((s) => /^(?:\.git[. ]*|git~\d+)$/i.test(s))) return "no .git component: that is git's own directory, not the repository's content";
  return undefined;
};

/**
 * The other image name, if any, that flattens to the same name as `image` (`acme/app` and
 * `acme-app`): namespaces hold no "-", so only the first "-" can stand for a "/".
 */
export function flatTwin(image: string): string | undefined {
  const twin = image.includes('/') ? image.replace('/', '-') : image.replace('-', '/');
  return twin !== image && imageRule(twin) === undefined ? twin : undefined;
}
