import { statfs } from 'node:fs/promises';
import { OperationError } from './errors.ts';

/**
 * Free space where raas writes scratch files (decompressed archives, downloads). A full
 * disk is the machine's state, not the input's fault, so it fails the operation (exit 1)
 * with the directory and what to do; it is never an internal error with a stack.
 */

/** Bytes an unprivileged process may still write on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return Number(stats.bavail) * Number(stats.bsize);
}

/** Whether a write failed because the filesystem (or the user's quota) is full. */
export const isNoSpace = (error: unknown): boolean => ['ENOSPC', 'EDQUOT'].includes((error as NodeJS.ErrnoException)?.code ?? '');

export const SPACE_FIX = 'free space on that filesystem, or set TMPDIR to a directory on one with more room';

/** The error for a write into `dir` that found no space left, after `written` bytes of `what`. */
export function noSpaceError(dir: string, what: string, written: number, cause: unknown): OperationError {
  return new OperationError(`no space left on the device for ${what} (after ${written} bytes)`, { where: dir, fix: SPACE_FIX, cause });
}
