import { parse } from 'ini';
import { ConfigError } from '../errors.ts';

/**
 * raas.cfg is read the way Python's ConfigParser read it for the original tool, because
 * existing files rely on that: indented lines continue the previous key's value (the
 * original's multi-line `mask_layers`), `#` and `;` start comments, and a section or a key
 * given twice is an error (ConfigParser's strict mode, the default since Python 3.2),
 * where the `ini` package would merge the sections and keep the last value. The `ini`
 * package does the parsing; continuation lines are folded first, since it has no notion
 * of them. Sections and keys are compared without case: raas reads ISV sections so, and
 * ConfigParser lowercases keys.
 */
export interface IniDocument {
  readonly file: string;
  readonly sections: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** 1-based line where `[section] key` is defined, for messages. */
  lineOf(section: string, key?: string): number | undefined;
  /** Lines that are not ini (no `[section]`, `key = value`, comment or continuation), left out of `sections`. */
  readonly invalidLines: readonly { readonly line: number; readonly text: string }[];
}

export function parseIni(file: string, text: string): IniDocument {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const folded: string[] = [];
  const where = new Map<string, number>();
  const seen = new Map<string, number>();
  const repeated: string[] = [];
  const once = (id: string, shown: string, line: number) => {
    const first = seen.get(id.toLowerCase());
    if (first === undefined) seen.set(id.toLowerCase(), line);
    else repeated.push(`${file}:${line}: ${shown} is given again (first at ${file}:${first})`);
  };
  const invalidLines: { line: number; text: string }[] = [];
  let section = '';
  // Index in `folded` of the last `key = value` line, which indented lines continue.
  let lastKey = -1;
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/\s+$/, '');
    if (lastKey >= 0 && /^\s+[^\s#;]/.test(line)) {
      folded[lastKey] = `${folded[lastKey]} ${line.trim()}`;
      folded.push('');
      continue;
    }
    folded.push(line);
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header) {
      section = header[1]!.trim();
      once(`[${section}]`, `section [${section}]`, index + 1);
      where.set(`[${section}]`, index + 1);
      lastKey = -1;
      continue;
    }
    const key = /^\s*([^=#;\s][^=]*?)\s*=/.exec(line);
    if (key) {
      once(`[${section}] ${key[1]}`, section ? `key ${key[1]} in [${section}]` : `key ${key[1]}`, index + 1);
      where.set(`[${section}] ${key[1]}`, index + 1);
      lastKey = folded.length - 1;
    } else if (line.trim() === '') {
      lastKey = -1;
    } else if (!/^\s*[#;]/.test(line)) {
      // `ini` would read such a line as a key set to true; ConfigParser refused it, and so does raas.
      invalidLines.push({ line: index + 1, text: line.trim() });
      folded[folded.length - 1] = '';
    }
  }

  if (repeated.length > 0) {
    throw new ConfigError(`${repeated.length} section${repeated.length === 1 ? ' or key is' : 's or keys are'} given twice in the configuration:\n${repeated.map((r) => `  ${r}`).join('\n')}`, {
      where: file,
      fix: 'keep one of each: merge the two sections, or remove the line that should not be there',
    });
  }
  const parsed = parse(folded.join('\n')) as Record<string, unknown>;
  const sections = new Map<string, Map<string, string>>();
  for (const [name, value] of Object.entries(parsed)) {
    if (value === null || typeof value !== 'object') {
      // A key before any [section]; keep it under '' so validation can name it.
      const top = sections.get('') ?? new Map<string, string>();
      top.set(name, String(value));
      sections.set('', top);
      continue;
    }
    addSection(sections, name, value as Record<string, unknown>);
  }
  return {
    file,
    sections,
    lineOf: (s, k) => where.get(k === undefined ? `[${s}]` : `[${s}] ${k}`),
    invalidLines,
  };
}

/** `ini` nests `[a.b]` inside `[a]`; raas keeps section names flat so messages name them as written. */
function addSection(sections: Map<string, Map<string, string>>, name: string, section: Record<string, unknown>): void {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(section)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      addSection(sections, `${name}.${key}`, value as Record<string, unknown>);
    } else {
      out.set(key, Array.isArray(value) ? value.join(' ') : String(value ?? ''));
    }
  }
  sections.set(name, out);
}
