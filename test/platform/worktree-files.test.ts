import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { link, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { InputError } from '../../src/errors.ts';
import { WorktreeFiles } from '../../src/platform/worktree-files.ts';
import { tempDir } from '../helpers/git.ts';

const exec = promisify(execFile);
const READ = { maxBytes: 64 };
const LIST = { maxBytes: 64, maxTotalBytes: 100, maxFiles: 3 };

async function setup(t: import('node:test').TestContext) {
  const root = await tempDir(t);
  const clone = path.join(root, 'clone');
  const outside = path.join(root, 'outside');
  await mkdir(path.join(clone, 'crane', 'data'), { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret.json'), 'outside');
  return { clone, outside, files: new WorktreeFiles(clone, 'Crane app repository') };
}

const refused = (pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof InputError, String(error));
  assert.match(error.message, pattern);
  return true;
};

describe('WorktreeFiles', () => {
  it('writes through a temporary file and never through a link, at any component', async (t) => {
    const { clone, outside, files } = await setup(t);
    await files.write('crane/data/a.json', 'one');
    await files.write('crane/data/a.json', 'two');
    assert.equal(await readFile(path.join(clone, 'crane/data/a.json'), 'utf8'), 'two');
    assert.deepEqual(await readdir(path.join(clone, 'crane/data')), ['a.json'], 'no temporary file is left');

    await symlink(path.join(outside, 'secret.json'), path.join(clone, 'crane/data/b.json'));
    await assert.rejects(files.write('crane/data/b.json', 'x'), refused(/crane\/data\/b\.json in the Crane app repository is a symbolic link/));
    await symlink(outside, path.join(clone, 'linked'));
    await assert.rejects(files.write('linked/c.json', 'x'), refused(/^linked in the Crane app repository is a symbolic link/));
    await assert.rejects(files.writeAll('linked/deeper', [{ name: 'd.json', text: 'x' }]), refused(/^linked in the/));
    await assert.rejects(files.appendLines('linked/x.log', 'x\n'), refused(/^linked in the/));
    assert.deepEqual(await readdir(outside), ['secret.json']);
    assert.equal(await readFile(path.join(outside, 'secret.json'), 'utf8'), 'outside');
  });

  it('reads nothing of the wrong kind: no FIFO is opened, no link followed, nothing over the cap', async (t) => {
    const { clone, outside, files } = await setup(t);
    await exec('mkfifo', [path.join(clone, 'crane/data/pipe.json')]);
    await assert.rejects(files.read('crane/data/pipe.json', READ), refused(/is a FIFO \(named pipe\), where raas needs a file/));
    await assert.rejects(files.listJson('crane/data', LIST), refused(/pipe\.json .* is a FIFO/));
    await symlink(path.join(outside, 'secret.json'), path.join(clone, 'crane/link.json'));
    await assert.rejects(files.read('crane/link.json', READ), refused(/is a symbolic link/));
    await writeFile(path.join(clone, 'crane/big.json'), 'x'.repeat(65));
    await assert.rejects(files.read('crane/big.json', READ), refused(/crane\/big\.json in the Crane app repository is 65 bytes, more than the 64 raas reads/));
    await writeFile(path.join(clone, 'crane/file'), 'x');
    await assert.rejects(files.read('crane/file/x.json', READ), refused(/crane\/file in the Crane app repository is a file, where raas needs a directory/));
    assert.equal(await files.read('crane/missing/x.json', READ), undefined);
    assert.deepEqual(await files.listJson('nothing/here', LIST), []);
  });

  it('lists *.json at any depth within bounds, refusing links and *.json directories', async (t) => {
    const { clone, outside, files } = await setup(t);
    await mkdir(path.join(clone, 'crane/data/sub'));
    await writeFile(path.join(clone, 'crane/data/b.json'), 'b');
    await writeFile(path.join(clone, 'crane/data/sub/a.json'), 'a');
    await writeFile(path.join(clone, 'crane/data/default_config.conf'), 'not read');
    assert.deepEqual(await files.listJson('crane/data', LIST), [{ name: 'b.json', text: 'b' }, { name: 'sub/a.json', text: 'a' }]);
    assert.deepEqual(await files.listJson('crane/data', { ...LIST, recursive: false }), [{ name: 'b.json', text: 'b' }]);
    await mkdir(path.join(clone, 'crane/data/dir.json'));
    await assert.rejects(files.listJson('crane/data', LIST), refused(/dir\.json in the Crane app repository is a directory, where raas needs a file/));
    await exec('rmdir', [path.join(clone, 'crane/data/dir.json')]);
    await symlink(outside, path.join(clone, 'crane/data/other'));
    await assert.rejects(files.listJson('crane/data', LIST), refused(/crane\/data\/other .* is a symbolic link/));
    await exec('rm', [path.join(clone, 'crane/data/other')]);
    for (const n of [1, 2]) await writeFile(path.join(clone, `crane/data/${n}.json`), '1');
    await assert.rejects(files.listJson('crane/data', LIST), refused(/holds more than 3 \*\.json files/));
    await mkdir(path.join(clone, 'deep', ...Array.from({ length: 33 }, () => 'd')), { recursive: true });
    await assert.rejects(files.listJson('deep', LIST), refused(/deep in the Crane app repository holds directories nested more than 32 deep/));
  });

  it('appends whole lines, and never to a file with other hard links', async (t) => {
    const { clone, outside, files } = await setup(t);
    await files.appendLines('acme/logs/day.log', 'a\n');
    await writeFile(path.join(clone, 'acme/logs/day.log'), 'a\nb');
    await files.appendLines('acme/logs/day.log', 'c\n');
    assert.equal(await readFile(path.join(clone, 'acme/logs/day.log'), 'utf8'), 'a\nb\nc\n');
    await link(path.join(outside, 'secret.json'), path.join(clone, 'acme/logs/linked.log'));
    await assert.rejects(files.appendLines('acme/logs/linked.log', 'x\n'), refused(/a file with other hard links/));
    assert.equal(await readFile(path.join(outside, 'secret.json'), 'utf8'), 'outside');
  });

  it('check() fails as a write would, changing nothing', async (t) => {
    const { clone, outside, files } = await setup(t);
    await files.check('acme/metadata', 'a directory');
    await symlink(outside, path.join(clone, 'acme'));
    await assert.rejects(files.check('acme/metadata/x.json', 'a file'), refused(/^acme in the Crane app repository is a symbolic link/));
    await assert.rejects(files.check('crane/data', 'a file'), refused(/crane\/data .* is a directory, where raas needs a file/));
  });
});
