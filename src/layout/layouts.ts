import type { IsvConfig } from '../config/config.ts';
import { craneV1 } from './crane-v1/layout.ts';
import { craneV2 } from './crane-v2/layout.ts';
import { distributionLayout } from './distribution/layout.ts';
import type { StorageLayout } from './layout.ts';

/** The layouts an ISV's images are published in, in the order they are planned and reported. */
export function layoutsOf(isv: IsvConfig): readonly StorageLayout[] {
  const { layout } = isv;
  if (layout.kind === 'distribution') return [distributionLayout({ root: layout.rootDirectory, maskedLayers: layout.maskedLayers })];
  return [craneV1, craneV2];
}
