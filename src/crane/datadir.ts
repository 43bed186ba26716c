import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface DataFile {
  /** Relative to the data directory, "/"-separated. */
  readonly name: string;
  readonly text: string;
}

/**
 * The files Crane would load from `dir`: every `*.json` at any depth (Crane walks its
 * data_dir recursively), sorted by name. Other files in the directory (the Crane package
 * keeps default_config.conf in crane/data) are not metadata. A missing directory holds none.
 */
export async function readDataDir(dir: string): Promise<DataFile[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const names = entries
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
  return Promise.all(names.map(async (name) => ({ name, text: await readFile(path.join(dir, name), 'utf8') })));
}
