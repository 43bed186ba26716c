import type { Readable } from 'node:stream';

/**
 * What a route answers, before it is written: the server writes every reply the same way
 * (HEAD without a body), so no route touches the response itself.
 */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** A stream is piped (a blob from a directory store); its length is in the headers. */
  readonly body: string | Buffer | Readable;
}

export const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

export const json = (status: number, value: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(value),
});

export const redirect = (location: string, status = 302): Reply => ({ status, headers: { Location: location }, body: '' });

/** Error codes of the distribution spec (and NOT_FOUND for paths that name no endpoint). */
export type ErrorCode =
  | 'BLOB_UNKNOWN' | 'DIGEST_INVALID' | 'MANIFEST_UNKNOWN' | 'MANIFEST_INVALID' | 'NAME_INVALID' | 'NAME_UNKNOWN'
  | 'PAGINATION_NUMBER_INVALID' | 'UNSUPPORTED' | 'NOT_FOUND' | 'BAD_REQUEST' | 'UNAVAILABLE' | 'INTERNAL';

const STATUS: Record<ErrorCode, number> = {
  BLOB_UNKNOWN: 404, DIGEST_INVALID: 400, MANIFEST_UNKNOWN: 404, MANIFEST_INVALID: 400, NAME_INVALID: 400, NAME_UNKNOWN: 404,
  PAGINATION_NUMBER_INVALID: 400, UNSUPPORTED: 405, NOT_FOUND: 404, BAD_REQUEST: 400, UNAVAILABLE: 503, INTERNAL: 500,
};

/** A v2 error in the distribution spec's format: {"errors": [{"code", "message", "detail"}]}. */
export function v2Error(code: ErrorCode, message: string, detail?: unknown, headers: Record<string, string> = {}): Reply {
  return json(STATUS[code], { errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] }, { ...API_VERSION, ...headers });
}

/** Crane's application-wide error answer (crane/app_util.py http_error_handler): the status text, as plain text. */
export const plainError = (status: number, text: string): Reply => ({ status, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: text });
