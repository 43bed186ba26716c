import type { IsvConfig, OpenShiftConfig } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { GitPlatform } from './git.ts';
import { NonePlatform } from './none.ts';
import { OpenShiftPlatform } from './openshift.ts';
import type { Platform } from './platform.ts';
import { Rhc } from './rhc.ts';

/** The platform an ISV's section of raas.cfg names. */
export function openPlatform(isv: IsvConfig, openshift: OpenShiftConfig, logger: Logger, signal?: AbortSignal): Platform {
  const platform = isv.platform;
  if (platform.kind === 'none') return new NonePlatform(isv.name, isv.registryUrl);
  if (platform.kind === 'git') return new GitPlatform({ isv: isv.name, remote: platform.remote, registryUrl: isv.registryUrl, signal });
  const rhc = new Rhc({
    server: openshift.serverUrl, login: openshift.username, password: openshift.password, token: openshift.authToken, logger, signal,
  });
  return new OpenShiftPlatform(rhc, {
    domain: platform.domain, app: platform.app, cartridge: openshift.cartridge, craneGitUrl: openshift.appGitUrl,
    scale: platform.scale, gearSize: platform.gearSize,
  });
}
