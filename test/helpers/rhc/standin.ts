import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../git.ts';

/** The directory holding the stand-in `rhc` executable. */
export const RHC_STANDIN_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface StandinApp {
  readonly uuid: string;
  readonly cartridge: string;
  readonly gearSize: string;
  readonly scaling: boolean;
  readonly fromCode: string | null;
  readonly env: Record<string, string>;
  readonly url: string;
  readonly restarts: number;
}

export interface RhcStandin {
  /** The stand-in's state directory (RHC_STANDIN_HOME). */
  readonly home: string;
  /** The argv of every rhc run so far, oldest first. */
  invocations(): Promise<string[][]>;
  app(domain: string, app: string): Promise<StandinApp>;
  /** Where `rhc app show` says the bare repository of an app is. */
  gitUrl(domain: string, app: string): string;
}

export interface StandinSettings {
  /** Require `-p <password>` (or `--token <token>`). */
  readonly password?: string;
  readonly token?: string;
  /** The URL `app show` prints for every app. */
  readonly appUrl?: string;
  /** An rhc command ("app create") that fails with a server error. */
  readonly fail?: string;
  /** Error messages repeat the whole command line, secrets included. */
  readonly echoArgv?: boolean;
}

/**
 * Puts the stand-in first on PATH with fresh state for the rest of the test. The
 * environment is the process's own, restored when the test ends, so tests using this
 * must not run concurrently within one file.
 */
export async function useRhcStandin(t: TestContext, settings: StandinSettings = {}): Promise<RhcStandin> {
  const home = await tempDir(t, 'raas-rhc-');
  const vars: Record<string, string | undefined> = {
    PATH: `${RHC_STANDIN_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
    RHC_STANDIN_HOME: home,
    RHC_STANDIN_PASSWORD: settings.password,
    RHC_STANDIN_TOKEN: settings.token,
    RHC_STANDIN_APP_URL: settings.appUrl,
    RHC_STANDIN_FAIL: settings.fail,
    RHC_STANDIN_ECHO_ARGV: settings.echoArgv ? '1' : undefined,
  };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(vars);
  t.after(() => apply(saved));
  return {
    home,
    async invocations() {
      const text = await readFile(path.join(home, 'invocations.log'), 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as string[]);
    },
    async app(domain, app) {
      return JSON.parse(await readFile(path.join(home, 'domains', domain, app, 'app.json'), 'utf8')) as StandinApp;
    },
    gitUrl: (domain, app) => path.join(home, 'domains', domain, app, 'repo.git'),
  };
}
