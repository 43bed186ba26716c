import { isHex64 } from '../../image/model.ts';
import type { ListedObject, Store } from '../../storage/store.ts';
import { check, some, type Check } from '../../status/checks.ts';
import type { PublishedImage } from '../../status/deployed.ts';
import { request, resolve } from '../../status/http.ts';
import type { ImageContext } from '../../status/context.ts';
import { appPrefix, OBJECT_KINDS, objectKey } from './keys.ts';

/**
 * The v1 side of a published image: every object its version 1 redirect file lists is in
 * `<app>/<id>/`, and no image prefix is left that no file lists.
 */
export function checkV1Objects(store: Store, image: PublishedImage, listing: ReadonlyMap<string, ListedObject>): Check[] {
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

/** Every tag as a v1 client resolves it: the tag through the registry, each file of its image through the registry's redirect. */
export async function checkV1Tags(ctx: ImageContext, store: Store, image: PublishedImage, listing: ReadonlyMap<string, ListedObject>): Promise<Check> {
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
