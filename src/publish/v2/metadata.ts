import { buildV3Redirect, isSchema2Ref, serializeRedirect } from '../../crane/redirect.ts';
import type { Logger } from '../../log.ts';

export interface V2RedirectInput {
  readonly repository: string;
  readonly registryId: string;
  /** Base URL of the app's v2 layout, ending in "/". */
  readonly url: string;
  /** This push's tags and manifest digests. */
  readonly schema2: readonly string[];
}

/**
 * The ISV's v2 redirect file after this push: what the deployed one lists plus this push's
 * tags and digests, so a push never unpublishes an earlier tag (its manifest stays in the
 * store). When the URL changed, the old entries are not under the new URL and are dropped.
 */
export function nextV2RedirectFile(input: V2RedirectInput, previousText: string | undefined, logger: Logger): string {
  const refs = new Set<string>();
  if (previousText !== undefined) {
    let previous: { version?: unknown; url?: unknown; schema2_data?: unknown } | undefined;
    try {
      previous = JSON.parse(previousText) as typeof previous;
    } catch {
      logger.warn(`the deployed v2 metadata for ${input.registryId} is not valid JSON; replacing it`);
    }
    if (previous?.version === 3 && previous.url === input.url && Array.isArray(previous.schema2_data)) {
      for (const ref of previous.schema2_data) if (typeof ref === 'string' && isSchema2Ref(ref)) refs.add(ref);
    } else if (previous) {
      logger.warn(`the deployed v2 metadata for ${input.registryId} had another version or URL; replacing it`);
    }
  }
  for (const ref of input.schema2) refs.add(ref);
  return serializeRedirect(buildV3Redirect({ repository: input.repository, registryId: input.registryId, url: input.url, schema2: refs }));
}
