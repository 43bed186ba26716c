import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { createFileStore } from '../../src/storage/file.ts';
import { openJournal, recoverAbandonedWrites, type IncompleteWrites } from '../../src/storage/journal.ts';

/** A pid that certainly belongs to no running process: one that just exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

describe('write journal', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'raas-journal-test-'));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('records writes until they end, and leaves no file once nothing is outstanding', async () => {
    const journals = path.join(dir, 'own');
    const journal = openJournal(journals);
    journal.started('s3://b/', 'app/x/layer', 'upload-1');
    journal.started('s3://b/', 'app/y/layer', 'upload-2');
    journal.ended('upload-1');
    journal.close();
    const [file] = await fs.readdir(journals);
    assert.equal(file, `${os.hostname()}-${process.pid}.jsonl`, 'a write is outstanding: the journal stays');
    journal.ended('upload-2');
    journal.close();
    assert.deepEqual(await fs.readdir(journals), []);
  });

  it('aborts, in the store it is given, only what runs that are gone left outstanding', async () => {
    const journals = path.join(dir, 'recover');
    await fs.mkdir(journals);
    const store = createFileStore({ root: path.join(dir, 'store') });
    await store.put('app/a/layer', Buffer.from('complete'), { contentType: 'application/octet-stream' });
    const partial = path.join(dir, 'store', 'app', 'a', '.json.partial-0f');
    await fs.writeFile(partial, 'half');
    const line = (entry: object) => `${JSON.stringify(entry)}\n`;
    const dead = `${os.hostname()}-${deadPid()}.jsonl`;
    await fs.writeFile(path.join(journals, dead), [
      line({ op: 'start', location: store.location, key: 'app/a/json', id: '.json.partial-0f' }),
      line({ op: 'start', location: store.location, key: 'app/a/layer', id: '.layer.partial-1e' }),
      line({ op: 'end', id: '.layer.partial-1e' }),
      line({ op: 'start', location: 's3://elsewhere/', key: 'app/b/layer', id: 'upload-9' }),
      '{"op":"start","loc', // torn by the kill
    ].join(''));
    const live = `${os.hostname()}-${process.pid}.jsonl`;
    await fs.writeFile(path.join(journals, live), line({ op: 'start', location: store.location, key: 'app/a/json', id: '.json.partial-aa' }));
    const otherHost = `another-host.example-${deadPid()}.jsonl`;
    await fs.writeFile(path.join(journals, otherHost), line({ op: 'start', location: store.location, key: 'app/a/json', id: '.json.partial-bb' }));

    assert.equal(await recoverAbandonedWrites(journals, store, silentLogger()), 1);
    assert.ok(!existsSync(partial), 'the dead run\'s partial file is removed');
    assert.equal((await store.stat('app/a/layer'))?.size, 'complete'.length, 'a write that ended is not touched');
    assert.deepEqual((await fs.readdir(journals)).sort(), [dead, otherHost, live].sort(), 'live runs, other hosts and other stores are left');
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(journals, dead), 'utf8')), { op: 'start', location: 's3://elsewhere/', key: 'app/b/layer', id: 'upload-9' });
  });

  it('keeps what it could not abort for the next run', async () => {
    const journals = path.join(dir, 'failing');
    await fs.mkdir(journals);
    const name = `${os.hostname()}-${deadPid()}.jsonl`;
    const entry = { op: 'start', location: 's3://b/', key: 'k', id: 'u' };
    await fs.writeFile(path.join(journals, name), `${JSON.stringify(entry)}\n`);
    const failing: IncompleteWrites = { location: 's3://b/', abortIncomplete: () => Promise.reject(new Error('503')) };
    assert.equal(await recoverAbandonedWrites(journals, failing, silentLogger()), 0);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(journals, name), 'utf8')), entry);
  });
});
