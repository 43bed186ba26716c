import assert from 'node:assert/strict';
import { open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { resolveLimits } from '../../src/image/limits.ts';
import { TarIndex } from '../../src/image/tar-index.ts';
import { END_OF_ARCHIVE, tarBuffer, tarEntry, writeTar } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';

const text = async (index: TarIndex, p: string): Promise<string | undefined> => {
  const entry = index.file(p);
  return entry && (await index.read(entry)).toString();
};

describe('TarIndex', () => {
  it('resolves symlinks and hard links within the archive, component by component', async (t) => {
    const dir = await tempDir(t);
    const file = await writeTar(path.join(dir, 'a.tar'), [
      { path: 'store/', type: 'directory' },
      { path: 'store/blob', body: 'content' },
      { path: 'blobs', type: 'symlink', linkpath: 'store' },
      { path: 'id/layer.tar', type: 'symlink', linkpath: '../blobs/blob' },
      { path: 'hard', type: 'hardlink', linkpath: 'store/blob' },
      { path: 'root', type: 'symlink', linkpath: '.' },
    ]);
    const index = await TarIndex.open(file, path.join(dir, 'work'), resolveLimits());
    assert.equal(await text(index, 'id/layer.tar'), 'content');
    assert.equal(await text(index, 'blobs/blob'), 'content');
    assert.equal(await text(index, 'hard'), 'content');
    assert.equal(await text(index, 'root/root/store/blob'), 'content');
    assert.equal(index.file('id/layer.tar')!.path, 'store/blob');
    assert.ok(index.isDirectory('blobs'));
    assert.equal(index.file('blobs'), undefined);
    assert.equal(index.file('missing'), undefined);
    assert.equal(index.file('store/blob/below'), undefined);
  });

  it('reads long names from PAX and GNU headers, and accepts identical duplicates', async (t) => {
    const dir = await tempDir(t);
    const long = `${'n'.repeat(120)}/${'m'.repeat(130)}`;
    const gnu = Buffer.concat([tarEntry({ path: '././@LongLink', typeflag: 'L', body: `gnu/${'g'.repeat(150)}\0` }), tarEntry({ path: 'gnu/truncated', body: 'g' })]);
    const file = path.join(dir, 'long.tar');
    await writeFile(file, Buffer.concat([tarEntry({ path: long, body: 'pax' }), gnu, tarEntry({ path: 'dup', body: 'same' }), tarEntry({ path: './dup', body: 'same' }), END_OF_ARCHIVE]));
    const index = await TarIndex.open(file, path.join(dir, 'work'), resolveLimits());
    assert.deepEqual(index.paths(), [long, `gnu/${'g'.repeat(150)}`, 'dup']);
    assert.equal(await text(index, long), 'pax');
    assert.equal(await text(index, 'dup'), 'same');
  });

  it('accepts archives without end-of-archive blocks', async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'short.tar');
    await writeFile(file, tarEntry({ path: 'only', body: 'x' }));
    const index = await TarIndex.open(file, path.join(dir, 'work'), resolveLimits());
    assert.deepEqual(index.paths(), ['only']);
  });

  it('indexes a huge entry without reading it', async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'huge.tar');
    const size = 9 * 1024 ** 3;
    // Beyond ustar's 8 GiB: the size travels in a PAX header. The file is sparse, only headers are stored.
    const headers = tarEntry({ path: 'big.layer', size, body: '' });
    const fh = await open(file, 'w');
    await fh.write(headers, 0, headers.length, 0);
    await fh.write(tarEntry({ path: 'after', body: 'tail' }), 0, 1024, headers.length + size);
    await fh.truncate(headers.length + size + 1024 + 1024);
    await fh.close();
    const started = process.hrtime.bigint();
    const index = await TarIndex.open(file, path.join(dir, 'work'), resolveLimits());
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(elapsedMs < 2000, `indexing took ${elapsedMs} ms`);
    assert.equal(index.file('big.layer')!.size, size);
    assert.equal(await text(index, 'after'), 'tail');
    const blob = index.blob(index.file('big.layer')!);
    const chunks: Buffer[] = [];
    for await (const chunk of blob.open(size - 10, size)) chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), Buffer.alloc(10));
  });

  it('decompresses gzip archives into workDir only, and removes the copy on dispose', async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'a.tar.gz');
    await writeFile(file, gzipSync(tarBuffer([{ path: 'x', body: 'gz' }])));
    const workDir = path.join(dir, 'work');
    const index = await TarIndex.open(file, workDir, resolveLimits());
    assert.equal(await text(index, 'x'), 'gz');
    assert.ok(index.tarFile.startsWith(workDir + path.sep));
    await index.dispose();
    assert.deepEqual(await readdir(workDir), []);
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar.gz', 'work']);
  });
});
