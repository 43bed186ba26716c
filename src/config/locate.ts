import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.ts';

export const CONFIG_FILE = 'raas.cfg';

/** Where raas.cfg comes from: a directory on disk, or the private configuration repository to clone. */
export type ConfigSource =
  | { readonly kind: 'dir'; readonly dir: string }
  | { readonly kind: 'remote'; readonly url: string; readonly branch: string };

export interface LocateOptions {
  /** `--config <dir>` */
  readonly configDir: string | undefined;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** `-c/--config-branch` */
  readonly branch: string;
}

/** `--config`, else the current directory, else RAAS_CONF_REPO, as the original looked for it. */
export function locateConfig(options: LocateOptions): ConfigSource {
  if (options.configDir !== undefined) {
    const dir = path.resolve(options.cwd, options.configDir);
    if (!existsSync(path.join(dir, CONFIG_FILE))) {
      throw new ConfigError(`no ${CONFIG_FILE} in ${dir}`, {
        where: '--config',
        fix: `pass the directory that holds ${CONFIG_FILE} (copy raas.cfg.template there to start one)`,
      });
    }
    return { kind: 'dir', dir };
  }
  if (existsSync(path.join(options.cwd, CONFIG_FILE))) return { kind: 'dir', dir: path.resolve(options.cwd) };
  const url = options.env.RAAS_CONF_REPO?.trim();
  if (url) return { kind: 'remote', url, branch: options.branch };
  throw new ConfigError(`no ${CONFIG_FILE} in ${options.cwd} and RAAS_CONF_REPO is not set`, {
    fix: `run raas in your configuration repository, pass --config <dir>, or export RAAS_CONF_REPO=<git URL of it>`,
  });
}
