import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Paths, the bench's log line, and how figures are written

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RAAS_BIN = path.join(ROOT, 'bin', 'raas');
/** The Node flags on bin/raas's #! line, which the bench passes as the kernel would when users run `raas`. */
export const RAAS_NODE_FLAGS: readonly string[] = (/^#!\/usr\/bin\/env -S node(.*)$/m.exec(readFileSync(RAAS_BIN, 'utf8').split('\n')[0]!)?.[1] ?? '').split(' ').filter(Boolean);
export const AWS = '/usr/bin/aws';
export const TIME = '/usr/bin/time';
export const MiB = 1024 * 1024;

export const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const mib = (kib: number): string => `${Math.round(kib / 1024)} MiB`;
export const ratio = (x: number): string => x.toFixed(2);

export function sizeText(bytes: number): string {
  if (bytes >= 1024 * MiB) return `${(bytes / 1024 / MiB).toFixed(bytes % (1024 * MiB) === 0 ? 0 : 1)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(0)} MiB`;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}
