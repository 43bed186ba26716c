import { createHash } from 'node:crypto';
import type { Digest } from './model.ts';

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

export const isDigest = (value: string): value is Digest => /^sha256:[0-9a-f]{64}$/.test(value);

export const toDigest = (hex: string): Digest => `sha256:${hex}`;

export const digestHex = (digest: Digest): string => digest.slice('sha256:'.length);
