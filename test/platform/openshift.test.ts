import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { deployMetadata, readDeployedMetadata } from '../../src/crane/deploy.ts';
import { buildV1Redirect, serializeRedirect } from '../../src/crane/redirect.ts';
import { ConfigError, OperationError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { CRANE_APP_ENV, OpenShiftPlatform } from '../../src/platform/openshift.ts';
import { checkRegistry } from '../../src/platform/ping.ts';
import { Rhc } from '../../src/platform/rhc.ts';
import { startServer } from '../../src/serve/server.ts';
import { dirSnapshot } from '../../src/serve/source.ts';
import { makeBareRepo, tempDir } from '../helpers/git.ts';
import { useRhcStandin } from '../helpers/rhc/standin.ts';

const logger = silentLogger();
const CRANE_SOURCE = { 'crane/__init__.py': '', 'crane/wsgi.py': '', 'crane/data/default_config.conf': '[general]\n' };
const TOKEN = 'token-0123456789';
const APP = { domain: 'acme', app: 'registry', cartridge: 'python-2.7', scale: true, gearSize: 'medium' };

const platform = (craneGitUrl: string | undefined) => new OpenShiftPlatform(new Rhc({ token: TOKEN, logger }), { ...APP, craneGitUrl });
const argvOf = (invocations: string[][]) => invocations.map((argv) => argv.slice(0, argv.indexOf('--token')).join(' '));

describe('OpenShiftPlatform', () => {
  it('reports a missing domain without looking for the app', async (t) => {
    const standin = await useRhcStandin(t);
    assert.deepEqual(await platform('unused').ensure({ createDomain: false, createApp: false }), [
      { step: 'domain acme', status: 'missing', detail: 'raas setup creates it (rhc domain create acme)' },
    ]);
    assert.deepEqual(argvOf(await standin.invocations()), ['domain show acme']);
  });

  it('creates the domain and the Crane app from the Crane source, then finds them', async (t) => {
    const root = await tempDir(t);
    const source = await makeBareRepo(path.join(root, 'crane.git'), { files: CRANE_SOURCE });
    const standin = await useRhcStandin(t);
    const outcomes = await platform(source).ensure({ createDomain: true, createApp: true });
    assert.deepEqual(outcomes, [
      { step: 'domain acme', status: 'created' },
      { step: 'app registry', status: 'created', detail: 'http://registry-acme.rhcloud.test/' },
    ]);
    assert.deepEqual(argvOf(await standin.invocations()), [
      'domain show acme',
      'domain create acme',
      'app show registry -n acme',
      `app create registry python-2.7 -n acme --from-code ${source} --scaling --gear-size medium --env OPENSHIFT_PYTHON_WSGI_APPLICATION=crane/wsgi.py --env OPENSHIFT_PYTHON_DOCUMENT_ROOT=crane/ --env HAPROXY_CARTRIDGE_HTTPCHK_URI=/v1/_ping --env CRANE_CONFIG_PATH=app-root/repo/crane.conf --no-git`,
      'app show registry -n acme',
    ]);
    assert.deepEqual((await standin.app('acme', 'registry')).env, CRANE_APP_ENV);

    const again = platform(source);
    assert.deepEqual(await again.ensure({ createDomain: true, createApp: true }), [
      { step: 'domain acme', status: 'present' },
      { step: 'app registry', status: 'present', detail: 'http://registry-acme.rhcloud.test/' },
    ]);
    assert.equal(await again.appRemote(), standin.gitUrl('acme', 'registry'));
  });

  it('creates only the app when only the app may be made, and gives an app made without it the Crane environment', async (t) => {
    const root = await tempDir(t);
    const source = await makeBareRepo(path.join(root, 'crane.git'), { files: CRANE_SOURCE });
    const standin = await useRhcStandin(t);
    assert.deepEqual(await platform(source).ensure({ createDomain: false, createApp: true }), [
      { step: 'domain acme', status: 'missing', detail: 'raas setup creates it (rhc domain create acme)' },
    ]);
    await execa('rhc', ['domain', 'create', 'acme']);
    await execa('rhc', ['app', 'create', 'registry', 'python-2.7', '-n', 'acme', '--from-code', source, '--no-git']);
    const shift = platform(source);
    assert.deepEqual((await shift.ensure({ createDomain: false, createApp: true })).map((o) => o.status), ['present', 'present']);
    assert.deepEqual(await shift.configureApp(), {
      step: 'app environment', status: 'created',
      detail: 'OPENSHIFT_PYTHON_WSGI_APPLICATION, OPENSHIFT_PYTHON_DOCUMENT_ROOT, HAPROXY_CARTRIDGE_HTTPCHK_URI, CRANE_CONFIG_PATH set; app restarted',
    });
    const app = await standin.app('acme', 'registry');
    assert.deepEqual([app.env, app.restarts], [CRANE_APP_ENV, 1]);
    assert.deepEqual(argvOf(await standin.invocations()).slice(-2), [
      'env set OPENSHIFT_PYTHON_WSGI_APPLICATION=crane/wsgi.py OPENSHIFT_PYTHON_DOCUMENT_ROOT=crane/ HAPROXY_CARTRIDGE_HTTPCHK_URI=/v1/_ping CRANE_CONFIG_PATH=app-root/repo/crane.conf -a registry -n acme',
      'app restart -a registry -n acme',
    ]);
  });

  it('deploys to the app it describes, and the registry it names answers', async (t) => {
    const root = await tempDir(t);
    const source = await makeBareRepo(path.join(root, 'crane.git'), { files: CRANE_SOURCE });
    // The gear would run Crane over the deployed data directory; here raas's own front end does.
    const served = path.join(root, 'served');
    await mkdir(served);
    const crane = await startServer({ source: await dirSnapshot(served) });
    t.after(() => crane.close());
    await useRhcStandin(t, { appUrl: `${crane.url}/` });
    await platform(source).ensure({ createDomain: true, createApp: true });

    const shift = platform(source);
    const remote = await shift.appRemote();
    const text = serializeRedirect(buildV1Redirect({ repository: 'acme-app', registryId: 'acme/app', url: 'https://cdn.example/acme/', imageIds: ['a'.repeat(64)], tags: { latest: 'a'.repeat(64) } }));
    const deployed = await deployMetadata({ remote, workDir: path.join(root, 'work'), files: [{ name: 'acme-app.json', text }], message: 'raas push acme acme/app', logger });
    assert.equal(deployed.changed, true);
    const files = await readDeployedMetadata(remote, 'crane/data', path.join(root, 'work'));
    assert.deepEqual(files, [{ name: 'acme-app.json', text }]);

    const ping = await checkRegistry(await shift.registryUrl());
    assert.equal(ping.v1, true);
  });

  it('says what to do when the app does not exist or cannot be created', async (t) => {
    const standin = await useRhcStandin(t);
    await assert.rejects(platform(undefined).appRemote(), (e: unknown) => e instanceof OperationError && /app registry does not exist in domain acme/.test(e.message) && /raas setup/.test(e.fix ?? ''));
    await assert.rejects(platform(undefined).ensure({ createDomain: true, createApp: true }), (e: unknown) => e instanceof ConfigError && e.where === 'raas.cfg [openshift] app_git_url');
    assert.equal((await standin.invocations()).some((argv) => argv[1] === 'create' && argv[0] === 'app'), false);
  });
});
