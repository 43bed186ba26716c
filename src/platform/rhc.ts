import { execa } from 'execa';
import { ConfigError, OperationError } from '../errors.ts';
import { MIN_SECRET_LENGTH, registerSecret, scrub, type Logger } from '../log.ts';

/**
 * A thin typed wrapper over the OpenShift Online v2 client `rhc`. The password or token
 * is on rhc's command line (rhc has no other non-interactive way to take it), so it is
 * registered as a secret and no message built here contains execa's own error text,
 * which repeats the whole command line.
 */

export interface RhcOptions {
  /** `--server`; rhc's own default when absent. */
  readonly server?: string | undefined;
  /** `-l` */
  readonly login?: string | undefined;
  /** `-p`; not sent when a token is given. */
  readonly password?: string | undefined;
  /** `--token` */
  readonly token?: string | undefined;
  readonly logger: Logger;
  /** The executable; default `rhc` from PATH. */
  readonly bin?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
}

export interface AppFacts {
  /** The app's web URL, where Crane answers. */
  readonly url: string;
  /** The app's git repository. */
  readonly gitUrl: string;
}

export interface CreateAppRequest {
  readonly app: string;
  readonly domain: string;
  readonly cartridge: string;
  /** Source repository of the app's code (the Crane repository). */
  readonly fromCode: string;
  readonly scaling: boolean;
  readonly gearSize?: string | undefined;
  readonly env: Readonly<Record<string, string>>;
}

// Exit codes rhc uses for missing resources (lib/rhc/exceptions.rb).
const DOMAIN_NOT_FOUND = 127;
const APP_NOT_FOUND = 101;

/**
 * The app's URL and git URL from `rhc app show`: `URL:` and `Git URL:` lines, or, as later
 * rhc releases print it, the URL in the heading `<app> @ <url> (uuid: ...)`.
 */
export function parseAppShow(text: string): AppFacts | undefined {
  const field = (name: string) => new RegExp(`^\\s*${name}:\\s+(\\S+)`, 'm').exec(text)?.[1];
  const url = field('URL') ?? /^\S+ @ (\S+) \(uuid: /m.exec(text)?.[1];
  const gitUrl = field('Git URL');
  return url && gitUrl ? { url, gitUrl } : undefined;
}

const envPairs = (env: Readonly<Record<string, string>>) => Object.entries(env).map(([k, v]) => `${k}=${v}`);

export class Rhc {
  readonly #options: RhcOptions;
  readonly #globals: readonly string[];

  constructor(options: RhcOptions) {
    this.#options = options;
    for (const [name, value] of [['password', options.password], ['auth_token', options.token]] as const) {
      if (!registerSecret(value)) {
        throw new ConfigError(`the OpenShift ${name} is shorter than ${MIN_SECRET_LENGTH} characters: raas cannot keep it out of rhc command lines it prints`, {
          where: `[openshift] ${name}`,
          fix: name === 'password' ? 'use a longer password, or auth_token instead' : 'check the token',
        });
      }
    }
    const auth = options.token ? ['--token', options.token] : options.password ? ['-p', options.password] : [];
    this.#globals = [...(options.server ? ['--server', options.server] : []), ...(options.login ? ['-l', options.login] : []), ...auth];
  }

  async domainExists(domain: string): Promise<boolean> {
    return (await this.#run(['domain', 'show', domain], [DOMAIN_NOT_FOUND])).code === 0;
  }

  async createDomain(domain: string): Promise<void> {
    await this.#run(['domain', 'create', domain]);
  }

  /** The app's facts, or undefined when the app (or its domain) does not exist. */
  async showApp(app: string, domain: string): Promise<AppFacts | undefined> {
    const args = ['app', 'show', app, '-n', domain];
    const { code, stdout } = await this.#run(args, [APP_NOT_FOUND, DOMAIN_NOT_FOUND]);
    if (code !== 0) return undefined;
    const facts = parseAppShow(stdout);
    if (!facts) throw new OperationError(`rhc ${args.join(' ')} printed no URL and Git URL`, { where: 'rhc', fix: 'run the command yourself and check its output' });
    return facts;
  }

  async createApp(request: CreateAppRequest): Promise<void> {
    await this.#run([
      'app', 'create', request.app, request.cartridge, '-n', request.domain, '--from-code', request.fromCode,
      ...(request.scaling ? ['--scaling'] : []),
      ...(request.gearSize ? ['--gear-size', request.gearSize] : []),
      ...envPairs(request.env).flatMap((pair) => ['--env', pair]),
      '--no-git',
    ]);
  }

  async setEnv(app: string, domain: string, env: Readonly<Record<string, string>>): Promise<void> {
    await this.#run(['env', 'set', ...envPairs(env), '-a', app, '-n', domain]);
  }

  async restartApp(app: string, domain: string): Promise<void> {
    await this.#run(['app', 'restart', '-a', app, '-n', domain]);
  }

  /** Runs rhc; returns its exit code and output when the code is 0 or one of `expected`, else throws. */
  async #run(args: readonly string[], expected: readonly number[] = []): Promise<{ code: number; stdout: string }> {
    const { logger, bin = 'rhc', timeoutMs = 300_000, signal } = this.#options;
    // Global options go last, so what is shown never holds them.
    const shown = scrub(`rhc ${args.join(' ')}`);
    logger.debug(`running ${shown}`);
    const result = await execa(bin, [...args, ...this.#globals], {
      reject: false,
      stdin: 'ignore',
      timeout: timeoutMs,
      ...(signal ? { cancelSignal: signal } : {}),
    });
    if (result.code === 'ENOENT') {
      throw new OperationError(`the OpenShift client '${bin}' is not installed or not on PATH`, {
        where: shown,
        fix: 'install it (gem install rhc) and run rhc setup once; or set platform = git for the ISV and deploy the Crane app yourself',
      });
    }
    const output = scrub(`${result.stderr}\n${result.stdout}`).split('\n').map((l) => l.trim()).filter(Boolean);
    logger.debug({ exitCode: result.exitCode, output }, `${shown} finished`);
    if (result.exitCode === 0 || (result.exitCode !== undefined && expected.includes(result.exitCode))) {
      return { code: result.exitCode, stdout: String(result.stdout) };
    }
    const why = result.timedOut ? `timed out after ${timeoutMs / 1000} s` : result.isCanceled ? 'was cancelled' : `failed (exit ${result.exitCode ?? result.signal})`;
    throw new OperationError(`${shown} ${why}: ${output.slice(0, 3).join(' / ') || 'no output'}`, {
      where: 'rhc',
      fix: 'check [openshift] server_url and the credentials (auth_token, or username and password), then run the command yourself for details',
    });
  }
}
