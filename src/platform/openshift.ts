import { OPENSHIFT_CRANE_CONFIG_PATH } from '../crane/config-file.ts';
import { ConfigError, OperationError } from '../errors.ts';
import type { EnsureOptions, Platform, StepOutcome } from './platform.ts';
import type { AppFacts, Rhc } from './rhc.ts';

/**
 * What the original raas set on the Crane app (the WSGI entry point, HAProxy's health
 * check), and where Crane finds the configuration raas setup commits.
 */
export const CRANE_APP_ENV: Readonly<Record<string, string>> = {
  OPENSHIFT_PYTHON_WSGI_APPLICATION: 'crane/wsgi.py',
  OPENSHIFT_PYTHON_DOCUMENT_ROOT: 'crane/',
  HAPROXY_CARTRIDGE_HTTPCHK_URI: '/v1/_ping',
  CRANE_CONFIG_PATH: OPENSHIFT_CRANE_CONFIG_PATH,
};

export interface OpenShiftApp {
  readonly domain: string;
  readonly app: string;
  readonly cartridge: string;
  /** The Crane source repository a new app is created from ([openshift] app_git_url). */
  readonly craneGitUrl: string | undefined;
  readonly scale: boolean;
  readonly gearSize: string;
}

/** A Crane app on OpenShift Online v2, one per ISV, described and created through rhc. */
export class OpenShiftPlatform implements Platform {
  readonly kind = 'openshift';
  readonly #rhc: Rhc;
  readonly #app: OpenShiftApp;
  #facts: AppFacts | undefined;

  constructor(rhc: Rhc, app: OpenShiftApp) {
    this.#rhc = rhc;
    this.#app = app;
  }

  async appRemote(): Promise<string> {
    return (await this.#describe()).gitUrl;
  }

  async registryUrl(): Promise<string> {
    return (await this.#describe()).url;
  }

  async ensure(options: EnsureOptions): Promise<StepOutcome[]> {
    const { domain, app } = this.#app;
    const outcomes: StepOutcome[] = [];
    const domainStep = `domain ${domain}`;
    if (await this.#rhc.domainExists(domain)) {
      outcomes.push({ step: domainStep, status: 'present' });
    } else if (!options.createDomain) {
      // Without the domain there is no app to look for.
      return [{ step: domainStep, status: 'missing', detail: `raas setup creates it (rhc domain create ${domain})` }];
    } else {
      await this.#rhc.createDomain(domain);
      outcomes.push({ step: domainStep, status: 'created' });
    }
    const appStep = `app ${app}`;
    this.#facts = await this.#rhc.showApp(app, domain);
    if (this.#facts) {
      outcomes.push({ step: appStep, status: 'present', detail: this.#facts.url });
    } else if (!options.createApp) {
      outcomes.push({ step: appStep, status: 'missing', detail: 'raas setup creates it' });
    } else {
      await this.#create();
      outcomes.push({ step: appStep, status: 'created', detail: (await this.#describe()).url });
    }
    return outcomes;
  }

  async configureApp(): Promise<StepOutcome> {
    const { app, domain } = this.#app;
    await this.#rhc.setEnv(app, domain, CRANE_APP_ENV);
    await this.#rhc.restartApp(app, domain);
    return { step: 'app environment', status: 'created', detail: `${Object.keys(CRANE_APP_ENV).join(', ')} set; app restarted` };
  }

  async #create(): Promise<void> {
    const { app, domain, cartridge, craneGitUrl, scale, gearSize } = this.#app;
    if (!craneGitUrl) {
      throw new ConfigError('no Crane source repository to create the app from', {
        where: 'raas.cfg [openshift] app_git_url',
        fix: 'set app_git_url, e.g. https://github.com/pulp/crane',
      });
    }
    await this.#rhc.createApp({ app, domain, cartridge, fromCode: craneGitUrl, scaling: scale, gearSize, env: CRANE_APP_ENV });
  }

  async #describe(): Promise<AppFacts> {
    const { app, domain } = this.#app;
    this.#facts ??= await this.#rhc.showApp(app, domain);
    if (!this.#facts) {
      throw new OperationError(`the OpenShift app ${app} does not exist in domain ${domain}`, {
        where: `rhc app show ${app} -n ${domain}`,
        fix: 'create it with raas setup <isv>',
      });
    }
    return this.#facts;
  }
}
