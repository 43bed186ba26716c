import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { IsvConfig, OpenShiftConfig } from '../../src/config/config.ts';
import { ConfigError, OperationError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { GitPlatform } from '../../src/platform/git.ts';
import { openPlatform } from '../../src/platform/open.ts';
import { makeBareRepo, tempDir } from '../helpers/git.ts';
import { useRhcStandin } from '../helpers/rhc/standin.ts';

const logger = silentLogger();

describe('GitPlatform', () => {
  it('finds a reachable remote and names its URLs from the configuration', async (t) => {
    const remote = await makeBareRepo(path.join(await tempDir(t), 'crane.git'), { files: { 'crane/wsgi.py': '' } });
    const git = new GitPlatform({ isv: 'acme', remote, registryUrl: 'https://registry.acme.example/' });
    assert.deepEqual(await git.ensure(), [{ step: `app repository ${remote}`, status: 'present' }]);
    assert.equal(await git.appRemote(), remote);
    assert.equal(await git.registryUrl(), 'https://registry.acme.example/');
  });

  it('names an unreachable remote without credentials, and a missing registry_url', async () => {
    const git = new GitPlatform({ isv: 'acme', remote: 'https://deploy:t0ken-abcdef@127.0.0.1:9/crane.git', registryUrl: undefined });
    await assert.rejects(git.ensure(), (e: unknown) => e instanceof OperationError && e.message.includes('https://***@127.0.0.1:9/crane.git') && !/t0ken-abcdef/.test(e.message));
    await assert.rejects(git.registryUrl(), (e: unknown) => e instanceof ConfigError && e.where === 'raas.cfg [acme] registry_url');
  });
});

describe('openPlatform', () => {
  const openshift: OpenShiftConfig = { serverUrl: 'openshift.example.com', appGitUrl: 'https://github.com/pulp/crane', cartridge: 'python-2.7', username: 'ops', password: 'p4ssw0rd-x', authToken: undefined };
  const isv = (platform: IsvConfig['platform']): IsvConfig => ({
    name: 'acme', storage: { kind: 'file', dir: '/srv', publicUrl: undefined }, platform, registryUrl: 'https://registry.acme.example/', craneDataDir: 'crane/data', access: 'public', presignSeconds: 1200, layout: { kind: 'crane' },
  });

  it('gives the git platform its remote and registry URL from the configuration', async () => {
    const git = openPlatform(isv({ kind: 'git', remote: '/srv/crane.git' }), openshift, logger);
    assert.equal(git.kind, 'git');
    assert.equal(await git.appRemote(), '/srv/crane.git');
    assert.equal(await git.registryUrl(), 'https://registry.acme.example/');
  });

  it('gives the OpenShift platform rhc with the configured server and credentials', async (t) => {
    const standin = await useRhcStandin(t);
    const shift = openPlatform(isv({ kind: 'openshift', domain: 'acme', app: 'registry', scale: false, gearSize: 'small' }), openshift, logger);
    assert.equal(shift.kind, 'openshift');
    await shift.ensure({ createDomain: false, createApp: false });
    assert.deepEqual(await standin.invocations(), [['domain', 'show', 'acme', '--server', 'openshift.example.com', '-l', 'ops', '-p', 'p4ssw0rd-x']]);
  });
});
