/**
 * `${VAR}` and `${VAR:-default}` in raas.cfg values read the environment, as the Aliyun
 * registry driver's `_env:VAR:default` did, so one committed raas.cfg can take secrets
 * and per-machine settings from the environment. A default may itself hold references, as
 * in a shell: `${REGISTRY_STORAGE_S3_ACCESSKEY:-${AWS_ACCESS_KEY_ID}}` takes the stock
 * registry's variable when it is set and AWS's otherwise. `$${` is a literal `${`.
 */
export type Interpolated = { ok: true; value: string } | { ok: false; variable: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Thrown inside the scan when a reference has no value and no default. */
class Unset {
  readonly variable: string;
  constructor(variable: string) {
    this.variable = variable;
  }
}

export function interpolate(value: string, env: NodeJS.ProcessEnv): Interpolated {
  try {
    return { ok: true, value: expand(value, 0, env, false).text };
  } catch (error) {
    if (error instanceof Unset) return { ok: false, variable: error.variable };
    throw error;
  }
}

/**
 * Expands `text` from `at` to its end, or (inside a default) to the `}` closing it; `end`
 * is -1 for a default that is never closed. A default is scanned either way, so that its
 * end is found, but an unset variable in it is an error only when the default is used.
 */
function expand(text: string, at: number, env: NodeJS.ProcessEnv, nested: boolean, used = true): { text: string; end: number } {
  let out = '';
  let i = at;
  let fallback: { text: string; end: number };
  while (i < text.length) {
    if (nested && text[i] === '}') return { text: out, end: i + 1 };
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    const name = text.startsWith('${', i) ? NAME.exec(text.slice(i + 2))?.[0] : undefined;
    if (name === undefined) {
      out += text[i];
      i += 1;
      continue;
    }
    const after = i + 2 + name.length;
    const found = env[name];
    const set = found !== undefined && found !== '';
    if (text[after] === '}') {
      if (used && !set) throw new Unset(name);
      out += set ? found : '';
      i = after + 1;
    } else if (text.startsWith(':-', after) && (fallback = expand(text, after + 2, env, true, used && !set)).end > 0) {
      out += set ? found : fallback.text;
      i = fallback.end;
    } else {
      // Not a reference ("${1}", "${A-b}", a default never closed): kept as written.
      out += text[i];
      i += 1;
    }
  }
  return { text: out, end: nested ? -1 : i };
}
