import type { Readable } from 'node:stream';
import type { Blob } from '../image/model.ts';

/**
 * Where layers and v1 JSON live. Keys are relative to the store's root (the S3 key prefix
 * or the storage directory); both backends lay objects out identically, so a bucket and a
 * directory served by any static web server are interchangeable for clients.
 */

export interface ListedObject {
  readonly size: number;
  /** The backend's entity tag (S3 ETag without quotes; absent for the file store). */
  readonly etag: string | undefined;
}

export interface ObjectInfo {
  readonly size: number;
  /** Hex sha256 raas recorded when it wrote the object; absent for objects raas did not write. */
  readonly sha256: string | undefined;
}

export interface PutOptions {
  readonly contentType: string;
  /** Hex sha256 the bytes must have; the write fails with IntegrityError and leaves nothing behind otherwise. */
  readonly sha256?: string;
  /**
   * Hex sha256 of each part as `Store.partSize` cuts the object, from the same reading
   * pass as `sha256`: a store that sends parts then checks each as it sends it, instead of
   * reading the object once more before sending.
   */
  readonly parts?: readonly string[];
  /** Called with the number of new bytes sent, for progress bars. */
  readonly onProgress?: (bytes: number) => void;
  readonly signal?: AbortSignal;
}

export interface PutResult {
  readonly size: number;
  /** Hex sha256 of what was written (recorded with the object). */
  readonly sha256: string;
}

/** A small object read whole (a manifest); its type as the store records it, where it does. */
export interface ReadObject {
  readonly body: Buffer;
  readonly contentType: string | undefined;
}

/** Bytes `start` to `end` inclusive, as an HTTP Range names them. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface Store {
  /** The backend: what clients can be sent to (pre-signed URLs, redirects) and what raas serve streams itself. */
  readonly kind: 's3' | 'file';
  /** For messages: "s3://bucket/prefix/" or "file:///dir/". */
  readonly location: string;
  /**
   * How clients read objects: at the public URL, or (private, S3 only) through URLs
   * pre-signed for each request, the bucket granting no public read at all.
   */
  readonly access: 'public' | 'private';

  /**
   * Every object under `prefix`, keyed by key relative to the store root; one paginated
   * listing. With `limit`, listing stops once that many keys are in (a page may overshoot).
   */
  list(prefix: string, options?: { readonly limit?: number }): Promise<Map<string, ListedObject>>;

  /** Size and recorded checksum of one object, or undefined when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;

  /**
   * The whole object, or undefined when it does not exist; an OperationError when it is
   * larger than `maxBytes`, so a hostile or corrupt object is never held in memory.
   */
  read(key: string, options: { readonly maxBytes: number }): Promise<ReadObject | undefined>;

  /** A stream of the object's bytes (of `range` only, when given); undefined when it does not exist. */
  openRead(key: string, range?: ByteRange): Promise<Readable | undefined>;

  /**
   * Write an object so that it is either wholly there, with its checksum recorded, or not
   * there at all (no partial object is ever visible at `key`).
   */
  put(key: string, body: Blob | Buffer, options: PutOptions): Promise<PutResult>;

  /** The size of the parts `put` sends an object of `size` bytes in; undefined when it sends it whole. */
  partSize?(size: number): number | undefined;

  /** Server-side copy of an object raas wrote (checksum travels with it). */
  copy(fromKey: string, toKey: string): Promise<void>;

  delete(key: string): Promise<void>;

  /** A URL that lets anyone GET `key` for `seconds` (stores that sign URLs: S3). */
  presign?(key: string, seconds: number): Promise<string>;

  /** The URL clients fetch `keyPrefix` from (ends with "/" when keyPrefix does). */
  publicUrl(keyPrefix: string): string;

  /** Throw a clear OperationError when the store cannot be reached, read or written. */
  check(options: { write: boolean }): Promise<void>;

  /**
   * Abort one incomplete write a killed run recorded in its journal (a multipart upload id,
   * or the partial file's name beside the key); one already gone is no error.
   */
  abortIncomplete(key: string, id: string): Promise<void>;

  close(): Promise<void>;
}
