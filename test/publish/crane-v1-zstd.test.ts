import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { layerDigester } from '../../src/image/layer-digests.ts';
import type { ImageRepository } from '../../src/image/model.ts';
import { readArchive } from '../../src/image/read.ts';
import { craneV1 } from '../../src/layout/crane-v1/layout.ts';
import { createLogger } from '../../src/log.ts';
import { createFileStore } from '../../src/storage/file.ts';
import { pulpChain, randomLayer, writePulpExport } from '../helpers/archives.ts';
import { tempDir } from '../helpers/git.ts';

/**
 * A Pulp export (which declares no media types, so raas tells zstd by its magic): a gzip
 * base, and on it one gzip and one zstd image, tagged as `tags` says ('gzip', 'zstd').
 */
async function pulpExport(dir: string, tags: Readonly<Record<string, 'gzip' | 'zstd'>>): Promise<{ repo: ImageRepository; zstdId: string }> {
  const [base, gzipped] = pulpChain([randomLayer(), randomLayer()]).map((image) => ({ ...image, layer: gzipSync(image.layer) }));
  const zstd = { id: randomBytes(32).toString('hex'), parent: base!.id, layer: zstdCompressSync(randomLayer().tar) };
  const tops = { gzip: gzipped!.id, zstd: zstd.id };
  const file = await writePulpExport(path.join(dir, 'export.tar'), {
    repoId: 'acme-app', images: [base!, gzipped!, zstd], tags: Object.fromEntries(Object.entries(tags).map(([tag, kind]) => [tag, tops[kind]])),
  });
  return { repo: await readArchive(file, { workDir: path.join(dir, 'work') }), zstdId: zstd.id };
}

async function plan(dir: string, repo: ImageRepository) {
  const store = createFileStore({ root: path.join(dir, 'store'), publicUrl: 'https://s/' });
  const lines: string[] = [];
  const terminal = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const logger = createLogger({ level: 'warn', terminal });
  const planned = await craneV1.plan({
    store, isv: 'acme', flat: 'acme-app', image: 'acme/app', repo, tags: repo.tags, published: repo.images, masked: new Map(),
    listing: await store.list('acme-app/'), digests: layerDigester(), concurrency: 2, logger,
  });
  return { planned, warnings: lines.filter((l) => l.startsWith('warn: ')) };
}

describe('the crane-v1 layout and zstd layers', () => {
  it('publishes no v1 image for a tag with a zstd layer, says which tag and layer, and publishes the other tags as before', async (t) => {
    const dir = await tempDir(t);
    const { repo, zstdId } = await pulpExport(dir, { '1.0': 'gzip', '2.0': 'zstd' });
    const zstdImage = repo.images.find((i) => i.id === zstdId)!;
    const { planned, warnings } = await plan(dir, repo);

    const ids = new Set(planned.write.map((o) => o.key.split('/')[1]));
    assert.ok(!ids.has(zstdId), 'the zstd image has no v1 objects');
    const kept = repo.images.find((i) => i.id === repo.tags.get('1.0'))!;
    assert.deepEqual(kept.ancestry.filter((id) => !ids.has(id)), [], 'every image of tag 1.0 is written');
    assert.equal(warnings.length, 1, warnings.join(''));
    assert.match(warnings[0]!, new RegExp(`^warn: v1: tag 2\\.0 is not published for Docker v1 clients: its layer ${zstdId} is zstd-compressed, which they cannot unpack \\(`));
    assert.ok(warnings[0]!.includes(zstdImage.layer.where!), 'names the archive entry');

    const redirect = JSON.parse(planned.frontEnd!.file(new Map(), createLogger({ level: 'silent', terminal: process.stderr }), 'crane/data').text);
    assert.deepEqual(Object.keys(redirect.tags), ['1.0']);
    assert.ok(!redirect.images.some((i: { id: string }) => i.id === zstdId));
  });

  it('writes nothing, and deploys no redirect file, when every tag has a zstd layer', async (t) => {
    const dir = await tempDir(t);
    const { repo } = await pulpExport(dir, { '2.0': 'zstd' });
    const { planned, warnings } = await plan(dir, repo);
    assert.deepEqual([planned.write, planned.present, planned.frontEnd], [[], [], undefined]);
    assert.equal(warnings.length, 2, warnings.join(''));
    assert.match(warnings[0]!, /tag 2\.0 is not published for Docker v1 clients/);
    assert.match(warnings[1]!, /^warn: v1: nothing of acme\/app is published for Docker v1 clients: every tag has a zstd layer/);
  });
});
