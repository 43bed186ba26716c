import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RaasError } from '../errors.ts';
import { isHex64 } from '../image/model.ts';
import { appPrefix, OBJECT_KINDS, objectKey } from '../publish/layout.ts';
import type { ListedObject, Store } from '../storage/store.ts';
import { attempt, check, some, type Check } from './checks.ts';
import type { PublishedImage } from './deployed.ts';

export interface ImageContext {
  readonly isv: string;
  /** Undefined when the store cannot be reached: its check says why, once. */
  readonly store: Store | undefined;
  readonly dataDir: string;
  /** The configuration repository's working copy. */
  readonly configDir: string;
  /** The registry's base URL, ending in "/"; undefined when it does not answer. */
  readonly registry: string | undefined;
  readonly signal: AbortSignal;
}

const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The checks of one published image. Storage is read with one paginated listing of the
 * image's prefix, which also decides whether each redirect target exists, so a healthy
 * image costs no request per object.
 */
export async function checkImage(ctx: ImageContext, image: PublishedImage): Promise<Check[]> {
  const backup = checkBackup(ctx, image);
  if (!ctx.store) return [await backup];
  const prefix = appPrefix(image.flat);
  let listing: Map<string, ListedObject>;
  try {
    listing = await ctx.store.list(prefix);
  } catch (error) {
    if (!(error instanceof RaasError)) throw error;
    return [check('objects', image.name, 'failed', error.describe()), await backup];
  }
  const store = ctx.store;
  const tags = ctx.registry ? attempt('tags', image.name, () => checkTags(ctx, store, image, listing)) : [];
  return [...checkObjects(store, image, listing), await backup, ...(await tags)];
}

function checkObjects(store: Store, image: PublishedImage, listing: ReadonlyMap<string, ListedObject>): Check[] {
  const prefix = appPrefix(image.flat);
  const expected = image.ids.flatMap((id) => OBJECT_KINDS.map((kind) => objectKey(image.flat, id, kind)));
  const missing = expected.filter((key) => !listing.has(key));
  const checks = [
    missing.length > 0
      ? check('objects', image.name, 'failed', `${missing.length} of ${expected.length} objects are missing from ${store.location}: ${some(missing)}`)
      : check('objects', image.name, 'ok', `${expected.length} objects of ${image.ids.length} images in ${store.location}${prefix}`),
  ];
  const listed = new Set(image.ids);
  // Only v1 image prefixes: other layouts share the app's prefix (the v2 layout is <app>/v2/).
  const orphans = [...new Set([...listing.keys()].map((key) => key.slice(prefix.length).split('/')[0]!))]
    .filter((id) => isHex64(id) && !listed.has(id))
    .map((id) => `${prefix}${id}/`);
  if (orphans.length > 0) {
    checks.push(check('orphans', image.name, 'warning', `${orphans.length} image prefixes that no metadata lists (an unfinished push, or images no longer published): ${some(orphans)}`));
  }
  return checks;
}

/** Each deployed file of the image against its copy `<isv>/metadata/<name without "<isv>-">` in the configuration repository. */
async function checkBackup(ctx: ImageContext, image: PublishedImage): Promise<Check> {
  const missing: string[] = [];
  const differ: string[] = [];
  for (const file of image.files) {
    const copy = path.posix.join(ctx.isv, 'metadata', file.name.slice(`${ctx.isv}-`.length));
    const text = await readFile(path.join(ctx.configDir, copy), 'utf8').catch(() => undefined);
    if (text === undefined) missing.push(copy);
    else if (text !== file.text) differ.push(`${copy} differs from the deployed ${ctx.dataDir}/${file.name}`);
  }
  if (differ.length > 0) return check('backup', image.name, 'failed', `${differ.join('; ')} in the configuration repository`);
  if (missing.length > 0) return check('backup', image.name, 'warning', `no backup copy ${missing.join(', ')} in the configuration repository (pushed with --no-commit?)`);
  return check('backup', image.name, 'ok', `${image.files.length === 1 ? 'the backup equals the deployed file' : `the ${image.files.length} backups equal the deployed files`}`);
}

interface Answer {
  readonly status: number | undefined;
  readonly location: string | null;
  readonly body: string;
  /** For messages: the status, or why there was none. */
  readonly said: string;
}

async function request(url: URL | string, method: 'GET' | 'HEAD', signal: AbortSignal): Promise<Answer> {
  try {
    const response = await fetch(url, { method, redirect: 'manual', signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) });
    const body = method === 'GET' ? await response.text() : '';
    return { status: response.status, location: response.headers.get('location'), body, said: `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: undefined, location: null, body: '', said: cause?.code ?? (error as Error).message };
  }
}

/** Every tag as a client resolves it: the tag through the registry, each file of its image through the registry's redirect. */
async function checkTags(ctx: ImageContext, store: Store, image: PublishedImage, listing: ReadonlyMap<string, ListedObject>): Promise<Check> {
  const registry = ctx.registry!;
  const tagsPath = `v1/repositories/${image.name}/tags`;
  const answer = await request(new URL(tagsPath, registry), 'GET', ctx.signal);
  let served: Record<string, unknown> = {};
  try {
    if (answer.status === 200) served = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    // reported below, as for any other answer
  }
  if (answer.status !== 200 || typeof served !== 'object' || served === null) {
    return check('tags', image.name, 'failed', `the registry answers ${answer.said} to /${tagsPath}: it does not serve ${ctx.dataDir}/${image.file}`);
  }
  const problems = Object.entries(image.tags)
    .filter(([tag, id]) => served[tag] !== id)
    .map(([tag, id]) => `tag ${tag} is ${JSON.stringify(served[tag] ?? null)} at the registry but ${id} in the metadata`);
  const ids = [...new Set(Object.values(image.tags))];
  const targets = await Promise.all(ids.flatMap((id) => OBJECT_KINDS.map((kind) => resolve(ctx, store, image, listing, `v1/images/${id}/${kind}`))));
  problems.push(...targets.filter((p): p is string => p !== undefined));
  const count = Object.keys(image.tags).length;
  return problems.length > 0
    ? check('tags', image.name, 'failed', some(problems, 3))
    : check('tags', image.name, 'ok', `${count === 1 ? '1 tag resolves' : `${count} tags resolve`} through the registry to objects that exist`);
}

/** Undefined when the registry redirects `file` to an object that exists; otherwise what went wrong. */
async function resolve(ctx: ImageContext, store: Store, image: PublishedImage, listing: ReadonlyMap<string, ListedObject>, file: string): Promise<string | undefined> {
  const answer = await request(new URL(file, ctx.registry), 'GET', ctx.signal);
  if (!answer.status || answer.status < 300 || answer.status > 399 || !answer.location) return `/${file} answered ${answer.said}, not a redirect`;
  const target = new URL(answer.location, ctx.registry).href;
  const root = store.publicUrl('');
  if (!target.startsWith(root)) {
    // Another party's host (a base layer): ask it, as a client would.
    const head = await request(target, 'HEAD', ctx.signal);
    return head.status === 200 ? undefined : `/${file} redirects to ${target}, which answers ${head.said}`;
  }
  let key: string;
  try {
    key = decodeURIComponent(target.slice(root.length));
  } catch {
    return `/${file} redirects to ${target}, which names no object`;
  }
  // The listing is the whole truth inside the image's prefix; elsewhere, one request decides.
  const exists = listing.has(key) || (!key.startsWith(appPrefix(image.flat)) && (await store.stat(key)) !== undefined);
  return exists ? undefined : `/${file} redirects to ${target}, which does not exist`;
}
