import type { V1Image } from '../../image/model.ts';

/**
 * The v1 object layout the original wrote and Crane v1 redirects into:
 * `<app>/<image-id>/{layer,json,ancestry}` under the store's key prefix, where `<app>` is
 * the image name with "/" as "-".
 */
export type ObjectKind = 'layer' | 'json' | 'ancestry';
export const OBJECT_KINDS: readonly ObjectKind[] = ['layer', 'json', 'ancestry'];

export const appPrefix = (flatName: string): string => `${flatName}/`;
export const objectKey = (flatName: string, id: string, kind: ObjectKind): string => `${flatName}/${id}/${kind}`;

/** The ancestry file exactly as Docker v1 served it: a JSON array, this id first. */
export const ancestryBytes = (image: V1Image): Buffer => Buffer.from(JSON.stringify(image.ancestry));

export const CONTENT_TYPES: Record<ObjectKind, string> = {
  layer: 'application/octet-stream',
  json: 'application/json',
  ancestry: 'application/json',
};

/** The v1 redirect file in the Crane data directory, and its backup copy's name in the configuration repository. */
export const v1MetadataName = (isv: string, flatName: string): string => `${isv}-${flatName}.json`;
