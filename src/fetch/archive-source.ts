import { existsSync, statSync } from 'node:fs';
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
  readonly onProgress?: DownloadOptions['onProgress'];
}

export interface ObtainedArchive {
  readonly path: string;
  /** What the user would recognise: the path given, or the URL (credentials scrubbed). */
  readonly origin: string;
}

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

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
      onProgress: request.onProgress,
      // Like a missing local path: the input is wrong (exit 2), nothing was touched.
      notFound: { what: 'archive', ...notFound },
    });
    return { path: target, origin: scrub(url) };
  };

  if (file !== undefined) {
    if (isUrl(file)) return fetchTo(file, { where: '--file', fix: 'check the URL' });
    const local = path.resolve(request.cwd, file);
    if (!existsSync(local)) throw new InputError(`archive not found: ${local}`, { where: '--file', fix: 'check the path' });
    if (!statSync(local).isFile()) throw new InputError(`${local} is not a file`, { where: '--file' });
    return { path: local, origin: local };
  }
  const name = `${flatImageName(request.image)}.tar`;
  const local = path.join(request.cwd, name);
  if (existsSync(local)) {
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
