import { tagRule } from '../config/names.ts';
import { InputError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseRedirect, type ParsedRedirect } from './parse.ts';
import { buildV1Redirect, buildV3Redirect, isSchema2Ref, serializeRedirect } from './redirect.ts';

/**
 * The redirect files a push deploys: the one already deployed, read through the one parser
 * (parse.ts) and checked before anything of it is carried over, merged with what the push
 * adds.
 */

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

export interface V2RedirectInput {
  readonly repository: string;
  readonly registryId: string;
  /** Base URL of the app's v2 layout, ending in "/". */
  readonly url: string;
  /** This push's tags and manifest digests. */
  readonly schema2: readonly string[];
  /** This push's tags and digests of manifest lists. */
  readonly lists?: readonly string[];
  /** This push's listed tags -> their linux/amd64 manifest digest. */
  readonly amd64?: ReadonlyMap<string, string>;
}

interface Previous {
  readonly file: string;
  readonly text: string;
}

/** Where the previous file is, for messages: the data directory's path when known. */
const WHERE = (file: string): string => `Crane app repository ${file}`;

/** The name and URL are compared with this push's own (a file under another URL is replaced, not carried over). */
const COMPARED = new Set(['repo-registry-id', 'url']);

function checked(file: string, text: string, image: string): { redirect: ParsedRedirect; json: Readonly<Record<string, unknown>> } {
  const parsed = parseRedirect(text);
  if (parsed.kind === 'invalid-json') throw previousBroken(file, image, `it is ${parsed.skipped}`);
  if (parsed.kind === 'not-object') throw previousBroken(file, image, 'it is not a JSON object');
  if (parsed.kind === 'unsupported-version') throw previousBroken(file, image, parsed.skipped);
  const { redirect } = parsed;
  const owner = redirect.registryId;
  if (owner !== undefined && owner !== image) {
    throw new InputError(`'${image}' would be published through ${file}, which publishes '${owner}': both names become the same file and storage prefix`, {
      where: WHERE(file),
      fix: `push '${image}' under a name that does not turn into the same name when "/" becomes "-", or remove '${owner}' first`,
    });
  }
  const problems = parsed.problems.filter((p) => p.severity !== 'warning' && !(p.key !== undefined && COMPARED.has(p.key))).map((p) => p.message);
  if (redirect.version === 1 && redirect.tags !== undefined) {
    for (const tag of Object.keys(redirect.tags)) {
      const broken = tagRule(tag);
      if (broken) problems.push(`tag '${tag}' is not a valid tag: ${broken}`);
    }
  }
  // Crane only warns about these, but raas would write them again under its own name.
  if ((redirect.version === 3 || redirect.version === 4) && redirect.schema2Data !== undefined) {
    const bad = redirect.schema2Data.filter((ref) => typeof ref !== 'string' || !isSchema2Ref(ref));
    if (bad.length > 0) problems.push(`schema2_data lists ${bad.map((b) => JSON.stringify(b)).join(', ')}, neither a tag nor a sha256 digest`);
  }
  if (problems.length > 0) throw previousBroken(file, image, problems.join('; '));
  return { redirect, json: parsed.json };
}

/**
 * The deployed redirect file a push is about to rewrite (`file`, for messages), checked
 * before anything is written: it must be this image's (never another image's whose name
 * flattens to the same file name, `acme/app` and `acme-app`), and everything it lists that
 * the push carries over must pass the checks new values pass. Crane's own rules are the
 * parser's; the file's name and URL are set aside, as both are compared with this push's
 * own. Returns the parsed JSON object.
 */
export function checkPreviousRedirect(file: string, text: string, image: string): Record<string, unknown> {
  return { ...checked(file, text, image).json };
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
export function nextRedirectFile(input: RedirectInput, previous: Previous | undefined, logger: Logger): string {
  const imageIds = new Set<string>();
  const tags = new Map<string, string>();
  if (previous !== undefined) {
    const { redirect } = checked(previous.file, previous.text, input.registryId);
    if (redirect.version === 1 && redirect.url === input.url) {
      for (const id of redirect.imageIds) imageIds.add(id);
      // Checked: every tag names a listed image.
      for (const [tag, id] of Object.entries(redirect.tags ?? {})) if (typeof id === 'string') tags.set(tag, id);
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

/**
 * The ISV's v2 redirect file after this push: what the deployed one lists plus this push's
 * tags and digests, so a push never unpublishes an earlier tag (its manifest stays in the
 * store). When the URL changed, the old entries are not under the new URL and are dropped.
 * `previous` is the deployed file, checked like the v1 file before anything is carried over.
 */
export function nextV2RedirectFile(input: V2RedirectInput, previous: Previous | undefined, logger: Logger): string {
  const refs = new Set<string>();
  const lists = new Set<string>();
  const amd64 = new Map<string, string>();
  if (previous !== undefined) {
    const { redirect } = checked(previous.file, previous.text, input.registryId);
    if ((redirect.version === 3 || redirect.version === 4) && redirect.url === input.url) {
      // Checked: every entry is a tag or a digest, every amd64 entry a [digest, version] pair.
      for (const ref of redirect.schema2Data ?? []) if (typeof ref === 'string') refs.add(ref);
      if (redirect.version === 4) {
        for (const ref of redirect.manifestListData ?? []) if (typeof ref === 'string') lists.add(ref);
        for (const [tag, pair] of Object.entries(redirect.manifestListAmd64Tags ?? {})) {
          if (Array.isArray(pair) && typeof pair[0] === 'string' && pair[1] === 2) amd64.set(tag, pair[0]);
        }
      }
    } else {
      logger.warn(`the deployed v2 metadata for ${input.registryId} had another version or URL; replacing it`);
    }
  }
  // A tag this push publishes names what it names now: a list, or a single manifest.
  for (const ref of [...input.schema2, ...(input.lists ?? [])]) {
    refs.delete(ref);
    lists.delete(ref);
    amd64.delete(ref);
  }
  for (const ref of input.schema2) refs.add(ref);
  for (const ref of input.lists ?? []) lists.add(ref);
  for (const [tag, digest] of input.amd64 ?? []) amd64.set(tag, digest);
  return serializeRedirect(buildV3Redirect({ repository: input.repository, registryId: input.registryId, url: input.url, schema2: refs, lists, amd64 }));
}
