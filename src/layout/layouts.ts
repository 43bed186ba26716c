import type { IsvConfig } from '../config/config.ts';
import { craneV1 } from './crane-v1/layout.ts';
import { craneV2 } from './crane-v2/layout.ts';
import type { StorageLayout } from './layout.ts';

/** The layouts an ISV's images are published in, in the order they are planned and reported. */
export function layoutsOf(_isv: IsvConfig): readonly StorageLayout[] {
  return [craneV1, craneV2];
}
