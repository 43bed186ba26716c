import { ConfigError } from '../errors.ts';
import type { Platform, StepOutcome } from './platform.ts';

/**
 * No Crane app (platform = none): a stock registry reads the store itself (layout =
 * distribution). Nothing is deployed; the registry URL, when set, is only checked.
 */
export class NonePlatform implements Platform {
  readonly kind = 'none';
  readonly #isv: string;
  readonly #registryUrl: string | undefined;

  constructor(isv: string, registryUrl: string | undefined) {
    this.#isv = isv;
    this.#registryUrl = registryUrl;
  }

  async appRemote(): Promise<string> {
    throw new ConfigError(`${this.#isv} has no Crane app (platform = none)`, { where: `raas.cfg [${this.#isv}] platform`, fix: 'set platform = git or openshift for a Crane app' });
  }

  async registryUrl(): Promise<string> {
    if (this.#registryUrl) return this.#registryUrl;
    throw new ConfigError(`no registry URL for ${this.#isv}`, { where: `raas.cfg [${this.#isv}] registry_url`, fix: 'set registry_url to the URL the stock registry answers at' });
  }

  async ensure(): Promise<StepOutcome[]> {
    return [];
  }

  async configureApp(): Promise<undefined> {
    return undefined;
  }
}
