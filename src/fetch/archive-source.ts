import { lstat, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { ConfigError, InputError } from '../errors.ts';
import { scrub, type Logger } from '../log.ts';
import { flatImageName } from '../config/names.ts';
import { download, type DownloadOptions } from './download.ts';

export interface ArchiveRequest {
  readonly isv: string;
  readonly image: string;
  /** `--file`: a path or an http(s) URL. */
  readonly file: string | undefined;
  readonly cwd: string;
  /** `[pulp] export_url` */
  readonly exportUrl: string | undefined;
  /** Downloads land here (raas's own temporary directory). */
  readonly workDir: string;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  readonly maxDownloadBytes: number;
  readonly timeouts?: DownloadOptions['timeouts'];
  readonly onProgress?: DownloadOptions['onProgress'];
}

export interface ObtainedArchive {
  readonly path: string;
  /** What the user would recognise: the path given, or the URL (credentials scrubbed). */
  readonly origin: string;
}

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/**
 * What is at `file`, without opening it: opening a FIFO would wait for a writer for ever.
 * A link (the user's own, in their directory) is looked through; a dangling one is missing.
 */
async function statArchive(file: string): Promise<Stats | undefined> {
  const missing = (error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(`cannot read the archive ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { where: file, fix: 'check the path and its permissions' });
  };
  const link = await lstat(file).catch(missing);
  return link?.isSymbolicLink() ? stat(file).catch(missing) : link;
}

/** The archive must be a regular file: raas reads it at offsets, more than once. */
function checkArchiveFile(file: string, info: Stats, given: string): void {
  if (info.isFile()) return;
  const kind = info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a FIFO (named pipe)' : info.isSocket() ? 'a socket' : 'a device';
  throw new InputError(`the archive ${file} is ${kind}, not a file`, {
    where: given,
    fix: info.isDirectory()
      ? 'pass the archive file (a tar written by docker save, skopeo or a Pulp export) with --file, or remove the directory'
      : 'write the archive to a regular file first (raas reads it at offsets, more than once) and pass that with --file',
  });
}

/** `--file`, else `./<image>.tar` (as the original did), else the Pulp export server. */
export async function obtainArchive(request: ArchiveRequest): Promise<ObtainedArchive> {
  const { file, logger } = request;
  const fetchTo = async (url: string, notFound: { where: string; fix: string }): Promise<ObtainedArchive> => {
    const target = path.join(request.workDir, 'download.tar');
    logger.info(`Downloading ${scrub(url)}`);
    await download(url, target, {
      logger,
      signal: request.signal,
      maxBytes: request.maxDownloadBytes,
      timeouts: request.timeouts,
      onProgress: request.onProgress,
      // Like a missing local path: the input is wrong (exit 2), nothing was touched.
      notFound: { what: 'archive', ...notFound },
    });
    return { path: target, origin: scrub(url) };
  };

  if (file !== undefined) {
    if (isUrl(file)) return fetchTo(file, { where: '--file', fix: 'check the URL' });
    const local = path.resolve(request.cwd, file);
    const info = await statArchive(local);
    if (!info) throw new InputError(`archive not found: ${local}`, { where: '--file', fix: 'check the path' });
    checkArchiveFile(local, info, '--file');
    return { path: local, origin: local };
  }
  const name = `${flatImageName(request.image)}.tar`;
  const local = path.join(request.cwd, name);
  const info = await statArchive(local);
  if (info) {
    checkArchiveFile(local, info, `./${name}`);
    logger.info(`Using local file ${name}`);
    return { path: local, origin: local };
  }
  if (request.exportUrl) {
    const base = request.exportUrl.endsWith('/') ? request.exportUrl : `${request.exportUrl}/`;
    return fetchTo(`${base}${request.isv}-${name}`, {
      where: '[pulp] export_url',
      fix: `check the ISV and image names (raas fetches <export_url>${request.isv}-${name}) and export_url, or pass --file <path|url>`,
    });
  }
  throw new ConfigError(`no archive for ${request.image}: no --file, no ./${name}, and no [pulp] export_url`, {
    fix: `pass --file <path|url>, put ${name} in the current directory, or set export_url in [pulp]`,
  });
}
