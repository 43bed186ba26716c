import type { V1Image } from '../image/model.ts';

/**
 * The v1 object layout the original wrote and Crane v1 redirects into:
 * `<app>/<image-id>/{layer,json,ancestry}` under the store's key prefix, where `<app>` is
 * the image name with "/" as "-".
 */
export type ObjectKind = 'layer' | 'json' | 'ancestry';
export const OBJECT_KINDS: readonly ObjectKind[] = ['layer', 'json', 'ancestry'];

/** Whether registry clients can fetch from a store URL: http(s), not a file:// URL only this machine can read. */
export const clientsCanFetch = (url: string): boolean => /^https?:\/\//i.test(url);

export const appPrefix = (flatName: string): string => `${flatName}/`;
export const objectKey = (flatName: string, id: string, kind: ObjectKind): string => `${flatName}/${id}/${kind}`;

/** The ancestry file exactly as Docker v1 served it: a JSON array, this id first. */
export const ancestryBytes = (image: V1Image): Buffer => Buffer.from(JSON.stringify(image.ancestry));

export const CONTENT_TYPES: Record<ObjectKind, string> = {
  layer: 'application/octet-stream',
  json: 'application/json',
  ancestry: 'application/json',
};
