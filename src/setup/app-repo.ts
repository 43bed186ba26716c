import { rm } from 'node:fs/promises';
import { CRANE_CONFIG_FILE, craneConfigText } from '../crane/config-file.ts';
import { ConfigError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';
import { assertStaged, gitFailure, headCommit, pushHead, retryWhileRemoteMoves, shallowClone, type Clone } from '../platform/gitrepo.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';

const WHAT = 'Crane app repository';

export interface AppRepoRequest {
  readonly isv: string;
  readonly remote: string;
  /** [openshift] app_git_url: what an empty app repository is filled from. */
  readonly craneSource: string | undefined;
  readonly platform: 'openshift' | 'git';
  readonly dataDir: string;
  readonly workDir: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export interface AppRepoResult {
  /** The repository was empty and now holds Crane from craneSource. */
  readonly initialised: boolean;
  /** The repository was empty and, with no Crane source (platform git), now holds only crane.conf: raas serve needs no Crane code. */
  readonly started: boolean;
  /** crane.conf was added or corrected. */
  readonly configured: boolean;
  readonly commit: string;
}

export const noCraneSource = (): ConfigError =>
  new ConfigError('the Crane app repository is empty and there is no Crane source repository to fill it from', {
    where: 'raas.cfg [openshift] app_git_url',
    fix: 'set app_git_url, e.g. https://github.com/pulp/crane',
  });

/** Crane's code into an empty clone, on the branch the clone is on. */
async function fillFromSource(clone: Clone, source: string): Promise<void> {
  try {
    await clone.git.raw(['fetch', '--no-tags', source, 'HEAD']);
  } catch (error) {
    throw gitFailure('cannot fetch the Crane source repository', source, error);
  }
  await clone.git.raw(['checkout', '-q', '-B', clone.branch, 'FETCH_HEAD']);
}

/**
 * Makes the app repository a Crane app that serves what raas deploys: an empty repository
 * is filled from the Crane source (the git platform's "init from the crane source"; rhc
 * does it for OpenShift), and crane.conf points Crane's data_dir at the data directory.
 * For the git platform the source is optional: `raas serve` reads the metadata straight
 * from the repository, so an empty one just starts with crane.conf (for a Crane later on).
 * One commit, pushed unforced; a push that loses a race starts again from a fresh clone.
 */
export async function prepareAppRepository(request: AppRepoRequest): Promise<AppRepoResult> {
  const { remote, logger, signal } = request;
  const text = craneConfigText(request.platform, request.dataDir);
  return retryWhileRemoteMoves(
    async () => {
      const clone = await shallowClone(remote, { parentDir: request.workDir, what: WHAT, signal });
      try {
        const empty = (await clone.git.raw(['rev-parse', '-q', '--verify', 'HEAD'])).trim() === '';
        const source = request.craneSource;
        if (empty && !source && request.platform !== 'git') throw noCraneSource();
        const initialised = empty && source !== undefined;
        const started = empty && !initialised;
        let from = '';
        if (initialised) {
          await fillFromSource(clone, source);
          from = `, Crane from ${scrub(source)}`;
        }
        // The repository's content is anyone's who can push to it: crane.conf is no link followed.
        const files = new WorktreeFiles(clone.dir, WHAT);
        const configured = (await files.read(CRANE_CONFIG_FILE, { maxBytes: 1024 * 1024 })) !== text;
        if (!empty && !configured) return { initialised, started, configured, commit: await headCommit(clone.git) };
        await files.write(CRANE_CONFIG_FILE, text);
        await clone.git.raw(['add', '--force', '--', CRANE_CONFIG_FILE]);
        await assertStaged(clone.git, [{ path: CRANE_CONFIG_FILE, text }], WHAT);
        await clone.git.commit(`raas setup ${request.isv}: Crane reads ${request.dataDir}${from}`);
        await pushHead(clone.git, 'origin', `refs/heads/${clone.branch}`, remote);
        const commit = await headCommit(clone.git);
        logger.debug({ commit }, `pushed ${commit.slice(0, 12)} to the ${WHAT}`);
        return { initialised, started, configured, commit };
      } finally {
        await rm(clone.dir, { recursive: true, force: true });
      }
    },
    { what: `the ${WHAT}`, logger, signal },
  );
}
