import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DownloadTimeouts } from '../config/config.ts';
import { ConfigError } from '../errors.ts';
import { fetchText } from '../fetch/download.ts';
import { scrub } from '../log.ts';

/** A Crane redirect file of the party that hosts the masked base layers. */
export interface MetadataFile {
  readonly name: string;
  readonly text: string;
  /** Where it came from, for messages. */
  readonly origin: string;
}

const MAX_METADATA_BYTES = 8 * 1024 * 1024;

/** Read with the cap applied while the body streams, so a server sending GiBs costs raas at most the cap. */
async function fromUrl(url: string, signal?: AbortSignal, timeouts?: DownloadTimeouts): Promise<MetadataFile> {
  const shown = scrub(url);
  const text = await fetchText(url, { maxBytes: MAX_METADATA_BYTES, signal, timeouts, what: 'base-image metadata ([redhat] metadata)' });
  const name = path.posix.basename(new URL(url).pathname);
  return { name: name.endsWith('.json') ? name : `${name}.json`, text, origin: shown };
}

async function fromDir(dir: string): Promise<MetadataFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`cannot read base-image metadata directory ${dir}: ${(error as Error).message}`, { where: '[redhat] metadata' });
  }
  return Promise.all(names.map(async (name) => ({ name, text: await readFile(path.join(dir, name), 'utf8'), origin: path.join(dir, name) })));
}

/**
 * The base-image metadata files named by `[redhat] metadata` (directories in the
 * configuration repository, or URLs). They decide which layers are masked, and they are
 * deployed beside the ISV's own file so Crane can redirect masked layers to their host.
 */
export async function loadBaseMetadata(sources: readonly string[], signal?: AbortSignal, timeouts?: DownloadTimeouts): Promise<MetadataFile[]> {
  const files = (await Promise.all(sources.map((s) => (/^https?:\/\//.test(s) ? fromUrl(s, signal, timeouts).then((f) => [f]) : fromDir(s))))).flat();
  const seen = new Map<string, string>();
  for (const file of files) {
    const other = seen.get(file.name);
    if (other) throw new ConfigError(`two base-image metadata files are named ${file.name}: ${other} and ${file.origin}`, { where: '[redhat] metadata', fix: 'rename one of them' });
    seen.set(file.name, file.origin);
    try {
      JSON.parse(file.text);
    } catch (error) {
      throw new ConfigError(`base-image metadata ${file.origin} is not valid JSON: ${(error as Error).message}`, { where: '[redhat] metadata' });
    }
  }
  return files;
}
