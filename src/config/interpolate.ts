/**
 * `${VAR}` and `${VAR:-default}` in raas.cfg values read the environment, as the Aliyun
 * registry driver's `_env:VAR:default` did, so one committed raas.cfg can take secrets
 * and per-machine settings from the environment. `$${` is a literal `${`.
 */
export type Interpolated = { ok: true; value: string } | { ok: false; variable: string };

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function interpolate(value: string, env: NodeJS.ProcessEnv): Interpolated {
  let missing: string | undefined;
  const out = value.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    const found = env[name!];
    if (found !== undefined && found !== '') return found;
    if (fallback !== undefined) return fallback;
    missing ??= name;
    return match;
  });
  return missing === undefined ? { ok: true, value: out } : { ok: false, variable: missing };
}

