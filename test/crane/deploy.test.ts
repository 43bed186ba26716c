import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { deployMetadata, readDeployedMetadata } from '../../src/crane/deploy.ts';
import { InputError, OperationError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { commitCount, commitMessages, filesAt, git, makeBareRepo, moveRemoteOnNextPush, tempDir } from '../helpers/git.ts';

const CRANE_APP = { 'crane/__init__.py': '', 'crane/wsgi.py': 'application = None\n', 'crane/data/default_config.conf': '[general]\n' };
const logger = silentLogger();

async function setup(t: import('node:test').TestContext) {
  const root = await tempDir(t);
  const remote = await makeBareRepo(path.join(root, 'app.git'), { files: CRANE_APP });
  return { remote, workDir: path.join(root, 'work') };
}

describe('deployMetadata', () => {
  it('creates, updates and leaves alone', async (t) => {
    const { remote, workDir } = await setup(t);
    const first = await deployMetadata({ remote, workDir, files: [{ name: 'acme-app.json', text: '{"v": 1}\n' }], message: 'raas push acme app', logger });
    assert.equal(first.changed, true);
    assert.equal(first.commit, (await git(remote, 'rev-parse', 'master')).trim());
    assert.equal((await filesAt(remote)).get('crane/data/acme-app.json'), '{"v": 1}\n');
    assert.deepEqual(await commitMessages(remote), ['raas push acme app', 'initial']);
    assert.deepEqual([...first.files.keys()], ['acme-app.json']);

    const same = await deployMetadata({ remote, workDir, files: [{ name: 'acme-app.json', text: '{"v": 1}\n' }], message: 'again', logger });
    assert.deepEqual([same.changed, same.commit], [false, first.commit]);
    assert.equal(await commitCount(remote), 2);

    const updated = await deployMetadata({
      remote, workDir, message: 'update', logger,
      files: (deployed) => [{ name: 'acme-app.json', text: deployed.get('acme-app.json')!.replace('1', '2') }],
    });
    assert.equal(updated.changed, true);
    assert.equal((await filesAt(remote)).get('crane/data/acme-app.json'), '{"v": 2}\n');
    assert.equal(await commitCount(remote), 3);
  });

  it('writes into a custom data directory and keeps other files there', async (t) => {
    const { remote, workDir } = await setup(t);
    await deployMetadata({ remote, workDir, dataDir: 'meta/v1', files: [{ name: 'a.json', text: 'a' }], message: 'a', logger });
    const result = await deployMetadata({ remote, workDir, dataDir: 'meta/v1', files: [{ name: 'b.json', text: 'b' }], message: 'b', logger });
    assert.deepEqual([...result.files], [['a.json', 'a'], ['b.json', 'b']]);
    const files = await filesAt(remote);
    assert.equal(files.get('meta/v1/a.json'), 'a');
    assert.equal(files.get('meta/v1/b.json'), 'b');
  });

  it('catches up when another deployment lands between clone and push, recomputing the files', async (t) => {
    const { remote, workDir } = await setup(t);
    await moveRemoteOnNextPush(remote, { file: 'crane/data/redhat.json', append: '{"rh": true}' });
    const seen: string[][] = [];
    const result = await deployMetadata({
      remote, workDir, message: 'mine', logger,
      files: (deployed) => {
        seen.push([...deployed.keys()]);
        return [{ name: 'acme-app.json', text: 'mine' }];
      },
    });
    assert.equal(result.changed, true);
    assert.deepEqual(seen, [[], ['redhat.json']]);
    assert.deepEqual(await commitMessages(remote), ['mine', 'moved by another operator', 'initial']);
    const files = await filesAt(remote);
    assert.equal(files.get('crane/data/redhat.json'), '{"rh": true}');
    assert.equal(files.get('crane/data/acme-app.json'), 'mine');
  });

  it('lands every one of several concurrent deployments', async (t) => {
    const { remote, workDir } = await setup(t);
    const names = ['a', 'b', 'c', 'd'];
    await Promise.all(
      names.map((n) => deployMetadata({ remote, workDir, files: [{ name: `${n}.json`, text: n }], message: `deploy ${n}`, logger })),
    );
    const files = await filesAt(remote);
    for (const n of names) assert.equal(files.get(`crane/data/${n}.json`), n);
    assert.equal(await commitCount(remote), 1 + names.length);
  });

  it('gives up after a bounded number of lost races, leaving the remote as the others made it', async (t) => {
    const { remote, workDir } = await setup(t);
    await moveRemoteOnNextPush(remote, { everyTime: true });
    await assert.rejects(
      deployMetadata({ remote, workDir, files: [{ name: 'a.json', text: 'a' }], message: 'a', logger, retries: 2 }),
      (error: unknown) => error instanceof OperationError && /kept changing.*after 3 attempts/.test(error.message),
    );
    assert.equal((await filesAt(remote)).has('crane/data/a.json'), false);
  });

  it('names an unreachable remote without its credentials', async (t) => {
    const root = await tempDir(t);
    const remote = 'https://deployer:s3cretpass@127.0.0.1:9/acme/crane.git';
    await assert.rejects(
      deployMetadata({ remote, workDir: root, files: [{ name: 'a.json', text: 'a' }], message: 'a', logger }),
      (error: unknown) => {
        assert.ok(error instanceof OperationError);
        assert.match(error.message, /cannot clone the Crane app repository https:\/\/\*\*\*@127\.0\.0\.1:9\/acme\/crane\.git/);
        assert.equal(error.where, 'https://***@127.0.0.1:9/acme/crane.git');
        assert.doesNotMatch(`${error.message} ${error.where} ${error.fix} ${error.stack}`, /s3cretpass/);
        return true;
      },
    );
    await assert.rejects(
      deployMetadata({ remote: path.join(root, 'missing.git'), workDir: root, files: [], message: 'a', logger }),
      /cannot clone the Crane app repository .*missing\.git/,
    );
  });

  it('refuses file names that are not plain *.json names before touching anything', async (t) => {
    const { remote, workDir } = await setup(t);
    for (const name of ['../escape.json', 'sub/a.json', '.hidden.json', 'a.txt', '']) {
      await assert.rejects(deployMetadata({ remote, workDir, files: [{ name, text: 'x' }], message: 'x', logger }), InputError, name);
    }
    await assert.rejects(
      deployMetadata({ remote, workDir, files: [{ name: 'a.json', text: '1' }, { name: 'a.json', text: '2' }], message: 'x', logger }),
      /deployed twice/,
    );
    assert.equal(await commitCount(remote), 1);
  });

  it('never reports a file deployed that git did not take as written (attributes in the repository rewrite it)', async (t) => {
    const root = await tempDir(t);
    const remote = await makeBareRepo(path.join(root, 'app.git'), { files: { ...CRANE_APP, '.gitattributes': '*.json working-tree-encoding=UTF-16LE\n' } });
    const before = await git(remote, 'rev-parse', 'master');
    // An odd length does not decode as UTF-16 (git add fails); an even one does, into other bytes than written.
    for (const [text, message] of [['{"v": 1}\n', /git cannot stage crane\/data\/acme-app\.json/], ['{"v": 12}\n', /git did not take crane\/data\/acme-app\.json as raas wrote it .*nothing was committed/]] as const) {
      await assert.rejects(
        deployMetadata({ remote, workDir: path.join(root, 'work'), files: [{ name: 'acme-app.json', text }], message: 'm', logger }),
        (error: Error) => error instanceof OperationError && message.test(error.message),
      );
    }
    assert.equal(await git(remote, 'rev-parse', 'master'), before);
  });

  it('never replaces a deployed file of another repository, and refuses links in the data directory', async (t) => {
    const { remote, workDir } = await setup(t);
    const file = (id: string) => JSON.stringify({ 'repo-registry-id': id });
    await deployMetadata({ remote, workDir, files: [{ name: 'acme-app.json', text: file('acme/app') }], message: 'a', logger });
    const before = await git(remote, 'rev-parse', 'master');
    await assert.rejects(
      deployMetadata({ remote, workDir, files: [{ name: 'acme-app.json', text: file('acme-app') }], message: 'b', logger }),
      (error: Error) => error instanceof InputError && /crane\/data\/acme-app\.json publishes 'acme\/app'; raas will not replace it with a file for 'acme-app'/.test(error.message),
    );
    assert.equal(await git(remote, 'rev-parse', 'master'), before);
  });
});

describe('readDeployedMetadata', () => {
  it('returns the *.json files Crane would load, at any depth, and nothing else', async (t) => {
    const root = await tempDir(t);
    const remote = await makeBareRepo(path.join(root, 'app.git'), {
      files: { ...CRANE_APP, 'crane/data/b.json': 'b', 'crane/data/v2/a.json': 'a', 'crane/data/notes.txt': 'n' },
    });
    const files = await readDeployedMetadata(remote, 'crane/data', path.join(root, 'work'));
    assert.deepEqual(files, [{ name: 'b.json', text: 'b' }, { name: 'v2/a.json', text: 'a' }]);
    assert.deepEqual(await readDeployedMetadata(remote, 'elsewhere', path.join(root, 'work')), []);
  });
});
