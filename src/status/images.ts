import path from 'node:path';
import { MAX_REDIRECT_FILE_BYTES } from '../crane/datadir.ts';
import { RaasError } from '../errors.ts';
import { isHex64 } from '../image/model.ts';
import { appPrefix, OBJECT_KINDS, objectKey } from '../publish/layout.ts';
import type { ListedObject, Store } from '../storage/store.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';
import { attempt, check, some, type Check } from './checks.ts';
import type { PublishedImage } from './deployed.ts';
import { request, resolve } from './http.ts';
import { checkV2 } from './v2.ts';

export interface ImageContext {
  readonly isv: string;
  /** Undefined when the store cannot be reached: its check says why, once. */
  readonly store: Store | undefined;
  readonly dataDir: string;
  /** The configuration repository's working copy. */
  readonly configDir: string;
  /** The registry's base URL, ending in "/"; undefined when it does not answer. */
  readonly registry: string | undefined;
  /** The registry serves the Docker v2 API (/v2/). */
  readonly registryV2: boolean;
  /** Requests in flight per image. */
  readonly concurrency: number;
  readonly signal: AbortSignal;
}

/**
 * The checks of one published image, v1 and v2. Storage is read with one paginated listing
 * of the image's prefix (which holds the v2 layout too), which also decides whether each
 * redirect target exists, so a healthy image costs no request per object.
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
  const v2 = checkV2(ctx, store, image, listing);
  return [...checkObjects(store, image, listing), await backup, ...(await tags), ...(await v2)];
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
    // Read as part of the working copy: a link committed there is not followed.
    let text: string | undefined;
    try {
      text = await new WorktreeFiles(ctx.configDir, 'configuration repository').read(copy, { maxBytes: MAX_REDIRECT_FILE_BYTES });
    } catch (error) {
      if (!(error instanceof RaasError)) throw error;
      differ.push(error.message);
      continue;
    }
    if (text === undefined) missing.push(copy);
    else if (text !== file.text) differ.push(`${copy} differs from the deployed ${ctx.dataDir}/${file.name}`);
  }
  if (differ.length > 0) return check('backup', image.name, 'failed', `${differ.join('; ')} in the configuration repository`);
  if (missing.length > 0) return check('backup', image.name, 'warning', `no backup copy ${missing.join(', ')} in the configuration repository (pushed with --no-commit?)`);
  return check('backup', image.name, 'ok', `${image.files.length === 1 ? 'the backup equals the deployed file' : `the ${image.files.length} backups equal the deployed files`}`);
}

/** Every tag as a client resolves it: the tag through the registry, each file of its image through the registry's redirect. */
async function checkTags(ctx: ImageContext, store: Store, image: PublishedImage, listing: ReadonlyMap<string, ListedObject>): Promise<Check> {
  const registry = ctx.registry!;
  const tagsPath = `v1/repositories/${image.name}/tags`;
  const answer = await request(new URL(tagsPath, registry), 'GET', ctx.signal);
  let served: Record<string, unknown> = {};
  try {
    if (answer.status === 200) served = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
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
  const resolving = { registry, store, listing, listed: appPrefix(image.flat), signal: ctx.signal };
  const targets = await Promise.all(ids.flatMap((id) => OBJECT_KINDS.map((kind) => resolve(resolving, `v1/images/${id}/${kind}`, undefined, { size: listing.get(objectKey(image.flat, id, kind))?.size }))));
  problems.push(...targets.filter((p): p is string => p !== undefined));
  const count = Object.keys(image.tags).length;
  return problems.length > 0
    ? check('tags', image.name, 'failed', some(problems, 3))
    : check('tags', image.name, 'ok', `${count === 1 ? '1 tag resolves' : `${count} tags resolve`} through the registry to objects that exist`);
}
