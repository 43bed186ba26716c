import { flatTwin } from '../config/names.ts';
import { InputError } from '../errors.ts';
import { sha256Hex } from '../image/digest.ts';
import type { ListedObject, Store } from '../storage/store.ts';
import { appPrefix } from './layout.ts';
import { checkPreviousRedirect } from '../crane/metadata.ts';
import { listedTags, tagsListBody, tagsListKey } from './v2/layout.ts';

/**
 * Two image names can flatten to one (`acme/app` and `acme-app`), and the flat name is
 * both the storage prefix and the redirect files' name: a second image pushed under it
 * would unpublish the first. Before anything is written, a push makes sure the flat name
 * is its image's: the deployed redirect files must name this image (checkPreviousRedirect),
 * and when none is deployed the storage prefix must not hold the other name's v2 tag list.
 */
export async function checkFlatNameOwner(options: {
  readonly image: string;
  readonly flat: string;
  readonly dataDir: string;
  /** The ISV's v1 and v2 redirect file names. */
  readonly files: readonly string[];
  readonly deployed: ReadonlyMap<string, string>;
  readonly store: Store;
  readonly listing: ReadonlyMap<string, ListedObject>;
}): Promise<void> {
  const { image, flat, store, listing } = options;
  let deployed = false;
  for (const name of options.files) {
    const text = options.deployed.get(name);
    if (text === undefined) continue;
    checkPreviousRedirect(`${options.dataDir}/${name}`, text, image);
    deployed = true;
  }
  const twin = flatTwin(image);
  if (deployed || twin === undefined || !listing.has(tagsListKey(flat))) return;
  // tags/list is {"name": <image>, "tags": [...]}: the tag manifests stored say which tags a settled list holds.
  const tags = listedTags(flat, listing.keys());
  const recorded = (await store.stat(tagsListKey(flat)))?.sha256;
  if (recorded !== undefined && recorded === sha256Hex(tagsListBody(twin, tags))) {
    throw new InputError(`'${image}' would be stored under ${store.location}${appPrefix(flat)}, which holds the images of '${twin}' (its v2 tag list names it)`, {
      where: `${store.location}${tagsListKey(flat)}`,
      fix: `push '${image}' under a name that does not turn into '${flat}' when "/" becomes "-"`,
    });
  }
}
