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
  /** Create what is missing (raas setup); otherwise only report it (raas status). */
  readonly create: boolean;
}

export interface Platform {
  readonly kind: 'openshift' | 'git';
  /** The git remote of the Crane app repository. */
  appRemote(): Promise<string>;
  /** The URL clients reach the registry at. */
  registryUrl(): Promise<string>;
  /** Checks, in order, what the app needs; throws a RaasError when a check cannot be made. */
  ensure(options: EnsureOptions): Promise<StepOutcome[]>;
}
