import { WorktreeFiles, type WorktreeFile } from '../platform/worktree-files.ts';

export type DataFile = WorktreeFile;

/**
 * Bounds on what is read from a data directory, whose content whoever can push to the
 * Crane app repository decides: a redirect file of 8 MiB lists some 100 000 images.
 */
export const MAX_REDIRECT_FILE_BYTES = 8 * 1024 * 1024;
const MAX_DATA_DIR_BYTES = 64 * 1024 * 1024;
const MAX_DATA_FILES = 20_000;

/**
 * The files Crane would load from `<root>/<dataDir>`: every `*.json` at any depth (Crane
 * walks its data_dir recursively), sorted by name. Other files in the directory (the Crane
 * package keeps default_config.conf in crane/data) are not metadata. A missing directory
 * holds none. No link is followed and nothing above the bounds is read (see
 * platform/worktree-files.ts); `what` names `root` in messages.
 */
export async function readDataDir(root: string, dataDir = '', what = 'Crane data directory'): Promise<DataFile[]> {
  return new WorktreeFiles(root, what).listJson(dataDir, {
    maxBytes: MAX_REDIRECT_FILE_BYTES,
    maxTotalBytes: MAX_DATA_DIR_BYTES,
    maxFiles: MAX_DATA_FILES,
  });
}
