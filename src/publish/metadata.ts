import { buildV1Redirect, serializeRedirect } from '../crane/redirect.ts';
import type { Logger } from '../log.ts';

export interface RedirectInput {
  /** `<isv>-<flat image name>`, the Pulp repository id convention. */
  readonly repository: string;
  /** The name clients pull. */
  readonly registryId: string;
  /** Base URL of the app's objects, ending in "/". */
  readonly url: string;
  readonly imageIds: readonly string[];
  readonly tags: ReadonlyMap<string, string>;
}

interface PreviousV1 {
  version?: unknown;
  url?: unknown;
  images?: { id?: unknown }[];
  tags?: Record<string, unknown>;
}

/**
 * The ISV's redirect file after this push. A push adds images and adds or moves tags; it
 * never drops what an earlier push published (a docker-archive carries one tag, and
 * pushing 2.0 must not unpublish 1.0). When the base URL changed, the old images are not
 * under the new URL, so they are not carried over.
 */
export function nextRedirectFile(input: RedirectInput, previousText: string | undefined, logger: Logger): string {
  const imageIds = new Set<string>();
  const tags = new Map<string, string>();
  if (previousText !== undefined) {
    let previous: PreviousV1 | undefined;
    try {
      previous = JSON.parse(previousText) as PreviousV1;
    } catch {
      logger.warn(`the deployed metadata for ${input.registryId} is not valid JSON; replacing it`);
    }
    if (previous?.version === 1 && previous.url === input.url) {
      for (const image of previous.images ?? []) if (typeof image.id === 'string') imageIds.add(image.id);
      for (const [tag, id] of Object.entries(previous.tags ?? {})) if (typeof id === 'string' && imageIds.has(id)) tags.set(tag, id);
    } else if (previous) {
      logger.warn(`the deployed metadata for ${input.registryId} had another version or URL; replacing it`);
    }
  }
  for (const id of input.imageIds) imageIds.add(id);
  for (const [tag, id] of input.tags) tags.set(tag, id);
  return serializeRedirect(
    buildV1Redirect({
      repository: input.repository,
      registryId: input.registryId,
      url: input.url,
      imageIds: [...imageIds],
      tags: Object.fromEntries(tags),
    }),
  );
}
