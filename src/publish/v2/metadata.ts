import { buildV3Redirect, serializeRedirect } from '../../crane/redirect.ts';
import type { Logger } from '../../log.ts';
import { checkPreviousRedirect } from '../metadata.ts';

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
 * `previous` is the deployed file, checked like the v1 file before anything is carried over.
 */
export function nextV2RedirectFile(input: V2RedirectInput, previous: { readonly file: string; readonly text: string } | undefined, logger: Logger): string {
  const refs = new Set<string>();
  if (previous !== undefined) {
    const data = checkPreviousRedirect(previous.file, previous.text, input.registryId);
    if (data.version === 3 && data.url === input.url) {
      for (const ref of data.schema2_data as string[]) refs.add(ref);
    } else {
      logger.warn(`the deployed v2 metadata for ${input.registryId} had another version or URL; replacing it`);
    }
  }
  for (const ref of input.schema2) refs.add(ref);
  return serializeRedirect(buildV3Redirect({ repository: input.repository, registryId: input.registryId, url: input.url, schema2: refs }));
}
