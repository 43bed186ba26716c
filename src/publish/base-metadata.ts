import path from 'node:path';
import type { DownloadTimeouts } from '../config/config.ts';
import { lintRedirectFiles } from '../crane/lint.ts';
import { ConfigError, RaasError } from '../errors.ts';
import { fetchText } from '../fetch/download.ts';
import { scrub } from '../log.ts';
import { relativeInside, WorktreeFiles } from '../platform/worktree-files.ts';

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

/**
 * The `*.json` files directly in `dir`. A directory inside the configuration repository is
 * read as part of that working copy (no link followed from its root on); one elsewhere is
 * read as its own tree. Either way each file is bounded like a download.
 */
async function fromDir(dir: string, configDir: string | undefined): Promise<MetadataFile[]> {
  const inRepo = configDir === undefined ? undefined : relativeInside(configDir, dir);
  const files = inRepo === undefined ? new WorktreeFiles(dir, 'base-image metadata directory') : new WorktreeFiles(configDir!, 'configuration repository');
  let listed;
  try {
    listed = await files.listJson(inRepo ?? '', { maxBytes: MAX_METADATA_BYTES, maxTotalBytes: 8 * MAX_METADATA_BYTES, maxFiles: 1000, recursive: false });
  } catch (error) {
    if (error instanceof RaasError) throw new ConfigError(error.message, { where: '[redhat] metadata', fix: error.fix });
    throw new ConfigError(`cannot read base-image metadata directory ${dir}: ${(error as Error).message}`, { where: '[redhat] metadata' });
  }
  return listed.map(({ name, text }) => ({ name, text, origin: path.join(dir, name) }));
}

/** Every base file must be one Crane loads: the files are deployed to the public Crane app as they are. */
function lintBaseFiles(files: readonly MetadataFile[]): void {
  const errors = lintRedirectFiles(files.map((f) => ({ path: f.origin, text: f.text }))).filter((p) => p.severity === 'error');
  if (errors.length === 0) return;
  throw new ConfigError(`base-image metadata that is not a valid Crane redirect file would be deployed:\n${errors.map((p) => `  ${p.file}: ${p.message}`).join('\n')}`, {
    where: '[redhat] metadata',
    fix: 'keep only Crane redirect files (version 1 to 4) in the metadata directories, and correct or remove the files named',
  });
}

/**
 * The base-image metadata files named by `[redhat] metadata` (directories in the
 * configuration repository, or URLs). They decide which layers are masked, and they are
 * deployed beside the ISV's own file so Crane can redirect masked layers to their host.
 */
export async function loadBaseMetadata(sources: readonly string[], signal?: AbortSignal, configDir?: string, timeouts?: DownloadTimeouts): Promise<MetadataFile[]> {
  const files = (await Promise.all(sources.map((s) => (/^https?:\/\//.test(s) ? fromUrl(s, signal, timeouts).then((f) => [f]) : fromDir(s, configDir))))).flat();
  const seen = new Map<string, string>();
  for (const file of files) {
    const other = seen.get(file.name);
    if (other) throw new ConfigError(`two base-image metadata files are named ${file.name}: ${other} and ${file.origin}`, { where: '[redhat] metadata', fix: 'rename one of them' });
    seen.set(file.name, file.origin);
  }
  lintBaseFiles(files);
  return files;
}
