import path from 'node:path';

/**
 * Crane's own configuration. Crane reads its redirect files from `data_dir` (crane/config.py;
 * default /var/lib/crane/metadata/), not from the repository it runs from, and takes the
 * file that sets it from CRANE_CONFIG_PATH. raas deploys the files into the app repository,
 * so raas setup commits this file beside Crane's code and the app runs with the variable set.
 */
export const CRANE_CONFIG_FILE = 'crane.conf';

/**
 * On OpenShift Online v2 mod_wsgi runs Crane in the gear's home directory (the python
 * cartridge's WSGIDaemonProcess names no home), where the deployed repository is
 * app-root/repo on every gear of a scaled app; the original's Crane fork set data_dir the
 * same way. Paths relative to it are therefore the same on every gear.
 */
const OPENSHIFT_REPO_DIR = 'app-root/repo';
export const OPENSHIFT_CRANE_CONFIG_PATH = `${OPENSHIFT_REPO_DIR}/${CRANE_CONFIG_FILE}`;

/**
 * What data_dir must say for Crane to read the repository's `dataDir`. On the git platform
 * the operator runs Crane, so paths are relative to the repository root, where Crane must
 * then be started.
 */
export const craneDataDirSetting = (platform: 'openshift' | 'git', dataDir: string): string =>
  platform === 'openshift' ? path.posix.join(OPENSHIFT_REPO_DIR, dataDir) : dataDir;

export function craneConfigText(platform: 'openshift' | 'git', dataDir: string): string {
  const openshift = platform === 'openshift';
  const where = openshift
    ? `# OpenShift runs Crane in the gear's home directory with CRANE_CONFIG_PATH=${OPENSHIFT_CRANE_CONFIG_PATH},\n# so data_dir is relative to that directory too.`
    : `# Start Crane in the repository's root directory with CRANE_CONFIG_PATH=${CRANE_CONFIG_FILE}.`;
  return [
    '# Written by raas setup: Crane serves the redirect files raas push deploys to data_dir.',
    where,
    '[general]',
    // Crane refuses to start without it: it reads debug without a default.
    'debug: false',
    `data_dir: ${craneDataDirSetting(platform, dataDir)}`,
    'data_dir_polling_interval: 60',
    '',
  ].join('\n');
}
