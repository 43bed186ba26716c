/**
 * Where an ISV's Crane app runs: which git remote deploys it and at which URL clients
 * reach it. OpenShift Online creates and describes the app through rhc; the git platform
 * is any remote the operator deploys from themselves, described by raas.cfg.
 */
export interface StepOutcome {
  /** "domain acme", "app registry", "app repository <url>". */
  readonly step: string;
  readonly status: 'present' | 'created' | 'missing';
  /** What was found or made (the app's URL), or how to make what is missing. */
  readonly detail?: string;
}

export interface EnsureOptions {
  /** Create a missing OpenShift domain (raas setup --create); otherwise only report it. */
  readonly createDomain: boolean;
  /** Create a missing app (raas setup); otherwise only report it (raas status). */
  readonly createApp: boolean;
}

export interface Platform {
  readonly kind: 'openshift' | 'git' | 'none';
  /** The git remote of the Crane app repository. */
  appRemote(): Promise<string>;
  /** The URL clients reach the registry at. */
  registryUrl(): Promise<string>;
  /** Checks, in order, what the app needs; throws a RaasError when a check cannot be made. */
  ensure(options: EnsureOptions): Promise<StepOutcome[]>;
  /**
   * Makes an app created without Crane's configuration read it (OpenShift: the environment
   * a new app gets, then a restart); undefined where the operator runs the app (git).
   */
  configureApp(): Promise<StepOutcome | undefined>;
}
