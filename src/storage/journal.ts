import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../log.ts';
import { processAlive } from '../process-alive.ts';

/**
 * A record, in a file, of the writes this process has started and not finished: multipart
 * uploads (billed until completed or aborted) and partial files. A run that is killed
 * outright cannot clean up after itself; the next run on this host finds its journal,
 * sees that its process is gone, and aborts exactly what it left — never a write of a run
 * that is still going, which is why raas does not simply abort every incomplete upload
 * under the app's prefix.
 */
export interface WriteJournal {
  /** Called as soon as the write exists in the store at `location`; written synchronously, so a kill right after still finds it. */
  started(location: string, key: string, id: string): void;
  /** The write was completed or aborted. */
  ended(id: string): void;
  /** Remove the journal when nothing it holds is still outstanding. */
  close(): void;
}

interface Entry {
  readonly op: 'start' | 'end';
  readonly location?: string;
  readonly key?: string;
  readonly id: string;
}

/** The store operation a recovery needs: abort or remove one incomplete write. */
export interface IncompleteWrites {
  readonly location: string;
  abortIncomplete(key: string, id: string): Promise<void>;
}

const NAME = /^(.+)-(\d+)\.jsonl$/;

/** Journals are state that must outlive a run (and its temporary directory): $XDG_STATE_HOME/raas/writes. */
export function defaultJournalDir(env: NodeJS.ProcessEnv): string {
  const state = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'raas', 'writes');
}

/** Journals live in `dir`, one per process, named `<host>-<pid>.jsonl`. */
export function openJournal(dir: string): WriteJournal {
  const file = path.join(dir, `${os.hostname()}-${process.pid}.jsonl`);
  const open = new Set<string>();
  const append = (entry: Entry): void => {
    if (open.size === 0 && entry.op === 'start') mkdirSync(dir, { recursive: true, mode: 0o700 });
    appendFileSync(file, `${JSON.stringify(entry)}\n`);
  };
  return {
    started(location, key, id) {
      append({ op: 'start', location, key, id });
      open.add(id);
    },
    ended(id) {
      if (!open.delete(id)) return;
      append({ op: 'end', id });
    },
    close() {
      if (open.size === 0) rmSync(file, { force: true });
    },
  };
}

/**
 * Abort what runs on this host that are gone left outstanding in `store`. Entries for
 * other stores stay for a run that opens those; an abort that fails stays for the next
 * run. Returns how many writes were aborted.
 */
export async function recoverAbandonedWrites(dir: string, store: IncompleteWrites, logger: Logger): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let aborted = 0;
  for (const name of names) {
    const owner = NAME.exec(name);
    if (!owner || owner[1] !== os.hostname() || processAlive(Number(owner[2]))) continue;
    const file = path.join(dir, name);
    const outstanding = outstandingIn(await readFile(file, 'utf8').catch(() => ''));
    const kept: Entry[] = [];
    for (const entry of outstanding) {
      if (entry.location !== store.location) {
        kept.push(entry);
        continue;
      }
      try {
        await store.abortIncomplete(entry.key!, entry.id);
        aborted += 1;
        logger.debug({ key: entry.key, id: entry.id }, `aborted an incomplete write of ${store.location}${entry.key} left by raas process ${owner[2]}`);
      } catch (error) {
        kept.push(entry);
        logger.warn({ err: error }, `could not abort an incomplete write of ${store.location}${entry.key} left by a killed run; the next run tries again`);
      }
    }
    if (kept.length === 0) await rm(file, { force: true });
    else await writeFile(file, kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }
  return aborted;
}

/** Started and not ended; a torn last line (the kill came mid-write) is ignored. */
function outstandingIn(text: string): Entry[] {
  const started = new Map<string, Entry>();
  for (const line of text.split('\n')) {
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch {
      continue;
    }
    if (typeof entry.id !== 'string') continue;
    if (entry.op === 'start' && typeof entry.key === 'string' && typeof entry.location === 'string') started.set(entry.id, entry);
    else if (entry.op === 'end') started.delete(entry.id);
  }
  return [...started.values()];
}
