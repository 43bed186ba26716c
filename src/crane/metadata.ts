import { tagRule } from '../config/names.ts';
import { lintRedirectFiles } from './lint.ts';
import { buildV1Redirect, buildV3Redirect, isSchema2Ref, serializeRedirect } from './redirect.ts';
import { InputError } from '../errors.ts';
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

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where the previous file is, for messages: the data directory's path when known. */
const WHERE = (file: string): string => `Crane app repository ${file}`;

/**
 * The deployed redirect file a push is about to rewrite (`file`, for messages), checked
 * before anything is written: it must be this image's (never another image's whose name
 * flattens to the same file name, `acme/app` and `acme-app`), and everything it lists that
 * the push carries over must pass the checks new values pass. Crane's own rules come from
 * the one linter (crane/lint.ts), applied to the file with its name and URL set aside:
 * both are compared with this push's own. Returns the parsed file.
 */
export function checkPreviousRedirect(file: string, text: string, image: string): Json {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw previousBroken(file, image, `it is not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(data)) throw previousBroken(file, image, 'it is not a JSON object');
  const owner = data['repo-registry-id'];
  if (typeof owner === 'string' && owner !== image) {
    throw new InputError(`'${image}' would be published through ${file}, which publishes '${owner}': both names become the same file and storage prefix`, {
      where: WHERE(file),
      fix: `push '${image}' under a name that does not turn into the same name when "/" becomes "-", or remove '${owner}' first`,
    });
  }
  // The name and URL are compared with this push's own (a file under another URL is replaced, not carried over).
  const neutral = serializeRedirect({ ...data, 'repo-registry-id': 'raas/image', url: 'https://raas.invalid/' });
  const problems = lintRedirectFiles([{ path: file, text: neutral }]).filter((p) => p.severity === 'error').map((p) => p.message);
  if (data.version === 1 && isObject(data.tags)) {
    for (const tag of Object.keys(data.tags)) {
      const broken = tagRule(tag);
      if (broken) problems.push(`tag '${tag}' is not a valid tag: ${broken}`);
    }
  }
  if (typeof data.version === 'number' && data.version >= 3 && Array.isArray(data.schema2_data)) {
    const bad = data.schema2_data.filter((ref) => typeof ref !== 'string' || !isSchema2Ref(ref));
    if (bad.length > 0) problems.push(`schema2_data lists ${bad.map((b) => JSON.stringify(b)).join(', ')}, neither a tag nor a sha256 digest`);
  }
  if (problems.length > 0) throw previousBroken(file, image, problems.join('; '));
  return data;
}

function previousBroken(file: string, image: string, why: string): InputError {
  return new InputError(`the deployed ${file} of ${image} is not a redirect file raas can add to: ${why}`, {
    where: WHERE(file),
    fix: `correct the file in the Crane app repository (or remove it, which unpublishes what it lists), commit and push, then push ${image} again`,
  });
}

/**
 * The ISV's redirect file after this push. A push adds images and adds or moves tags; it
 * never drops what an earlier push published (a docker-archive carries one tag, and
 * pushing 2.0 must not unpublish 1.0). When the base URL changed, the old images are not
 * under the new URL, so they are not carried over. `previous` is the deployed file, which
 * is checked (checkPreviousRedirect) before anything of it is carried over.
 */
export function nextRedirectFile(input: RedirectInput, previous: { readonly file: string; readonly text: string } | undefined, logger: Logger): string {
  const imageIds = new Set<string>();
  const tags = new Map<string, string>();
  if (previous !== undefined) {
    const data = checkPreviousRedirect(previous.file, previous.text, input.registryId);
    if (data.version === 1 && data.url === input.url) {
      for (const image of data.images as { id: string }[]) imageIds.add(image.id);
      for (const [tag, id] of Object.entries(data.tags as Record<string, string>)) tags.set(tag, id);
    } else {
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
