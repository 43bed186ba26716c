import type http from 'node:http';
import type { CraneData } from './data.ts';
import { json, plainError, redirect, type Reply } from './reply.ts';

/**
 * Crane's v1 API (crane/views/v1.py): image lists and tags from the redirect files, and a
 * redirect for every image file, to the url of any repository listing the image; that is
 * how one party's metadata serves the base layers another party hosts. Errors are Crane's
 * own plain-text answers.
 */
const IMAGE_FILES = new Set(['ancestry', 'json', 'layer']);

// What Crane adds to every v1 answer, to look like docker-registry 0.6.
const V1_HEADERS = { 'X-Docker-Registry-Version': '0.6.6', 'X-Docker-Registry-Config': 'common' };

const notFound = (): Reply => plainError(404, 'Not Found');
const withV1 = (reply: Reply): Reply => ({ ...reply, headers: { ...reply.headers, ...V1_HEADERS } });

/** crane/app_util.py validate_and_transform_repoid: at most one "/", docker's "library/" stripped. */
function v1Repo(data: CraneData, segments: readonly string[]) {
  if (segments.length === 0 || segments.length > 2) return undefined;
  const name = segments.join('/');
  const repo = data.v1.get(name.startsWith('library/') ? name.slice('library/'.length) : name);
  return repo && !repo.protected ? repo : undefined;
}

function imageRedirect(data: CraneData, id: string, file: string): Reply {
  if (!IMAGE_FILES.has(file)) return notFound();
  const repo = (data.images.get(id) ?? []).map((name) => data.v1.get(name)!).find((r) => !r.protected);
  if (!repo) return notFound();
  const base = repo.url.endsWith('/') ? repo.url : `${repo.url}/`;
  return redirect(`${base}${encodeURIComponent(id)}/${file}`);
}

/** `segments`: the path after "/v1/". */
export function v1Reply(data: CraneData, segments: readonly string[], request: http.IncomingMessage): Reply {
  const n = segments.length;
  if (n === 1 && segments[0] === '_ping') return withV1(json(200, true, { 'X-Docker-Registry-Standalone': 'True' }));
  if (segments[0] === 'repositories' && n >= 3) {
    const last = segments[n - 1]!;
    if (last === 'images' || last === 'tags') {
      const repo = v1Repo(data, segments.slice(1, -1));
      if (repo) {
        // Crane sends the request's own Host; an absent one is not echoed.
        const endpoints: Record<string, string> = last === 'images' && request.headers.host ? { 'X-Docker-Endpoints': request.headers.host } : {};
        return withV1(json(200, last === 'images' ? repo.images : repo.tags, endpoints));
      }
    }
    if (n >= 4 && segments[n - 2] === 'tags') {
      const repo = v1Repo(data, segments.slice(1, -2));
      const id = repo && Object.hasOwn(repo.tags, last) ? repo.tags[last] : undefined;
      if (id !== undefined) return withV1(json(200, id));
    }
    return withV1(notFound());
  }
  if (segments[0] === 'images' && n === 3) return withV1(imageRedirect(data, segments[1]!, segments[2]!));
  return withV1(notFound());
}
