import os from 'node:os';
import { ConfigError } from '../errors.ts';
import { scrub } from '../log.ts';
import { gitFailure, gitIn } from './gitrepo.ts';
import type { Platform, StepOutcome } from './platform.ts';

export interface GitAppSettings {
  /** The ISV, for messages. */
  readonly isv: string;
  /** The Crane app repository ([isv] app_remote). */
  readonly remote: string;
  /** [isv] registry_url */
  readonly registryUrl: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** A Crane app deployed from a git remote the operator runs themselves; raas.cfg says where. */
export class GitPlatform implements Platform {
  readonly kind = 'git';
  readonly #settings: GitAppSettings;

  constructor(settings: GitAppSettings) {
    this.#settings = settings;
  }

  async appRemote(): Promise<string> {
    return this.#settings.remote;
  }

  async registryUrl(): Promise<string> {
    const { registryUrl, isv } = this.#settings;
    if (!registryUrl) {
      throw new ConfigError(`no registry URL for ${isv}`, {
        where: `raas.cfg [${isv}] registry_url`,
        fix: 'set registry_url to the URL your Crane app answers at',
      });
    }
    return registryUrl;
  }

  /** raas cannot create a remote; it checks that it can reach it. */
  async ensure(): Promise<StepOutcome[]> {
    const { remote, signal } = this.#settings;
    try {
      await gitIn(os.tmpdir(), { signal }).listRemote([remote]);
    } catch (error) {
      throw gitFailure('cannot reach the Crane app repository', remote, error);
    }
    return [{ step: `app repository ${scrub(remote)}`, status: 'present' }];
  }

  async configureApp(): Promise<undefined> {
    return undefined;
  }
}
