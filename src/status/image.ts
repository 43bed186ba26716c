import path from 'node:path';
import { MAX_REDIRECT_FILE_BYTES } from '../crane/datadir.ts';
import { RaasError } from '../errors.ts';
import { appPrefix } from '../layout/crane-v1/keys.ts';
import { checkV1Objects, checkV1Tags } from '../layout/crane-v1/status.ts';
import { checkV2 } from '../layout/crane-v2/status.ts';
import { WorktreeFiles } from '../platform/worktree-files.ts';
import type { ListedObject, Store } from '../storage/store.ts';
import { attempt, check, type Check } from './checks.ts';
import type { ImageContext } from './context.ts';
import type { PublishedImage } from './deployed.ts';

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
  const tags = ctx.registry ? attempt('tags', image.name, () => checkV1Tags(ctx, store, image, listing)) : [];
  const v2 = checkV2(ctx, store, image, listing);
  return [...checkV1Objects(store, image, listing), await backup, ...(await tags), ...(await v2)];
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

