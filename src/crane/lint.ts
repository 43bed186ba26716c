import { parseRedirect, type Severity } from './parse.ts';

/**
 * Lint of deployed redirect files: each file's problems as the one parser (parse.ts) finds
 * them, plus what only shows across files (two files claiming one name, one image under two
 * urls). Crane 3.3 (and raas serve) skips a file it cannot load (bad JSON, an unsupported
 * version, a missing key) with a logged error and serves the others: such a file's problem
 * is an error of that file (its repository is not served), not of the registry.
 */
export interface LintProblem {
  readonly file: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

export interface MetadataText {
  readonly path: string;
  readonly text: string;
}

interface Loaded {
  readonly path: string;
  /** Crane keeps v1 repositories and v2 (versions 2-4) repositories in separate tables. */
  readonly family: 'v1' | 'v2';
  readonly registryId: string | undefined;
  readonly url: string | undefined;
  readonly imageIds: readonly string[];
}

/** A file Crane's loader skips is an error of the file: lint has no lesser word for "not served". */
const SEVERITY: Readonly<Record<Severity, LintProblem['severity']>> = { skip: 'error', error: 'error', warning: 'warning' };

function lintFile(file: MetadataText, problems: LintProblem[]): Loaded | undefined {
  if (!file.path.endsWith('.json')) problems.push({ file: file.path, severity: 'warning', message: 'Crane reads only *.json files: this one is ignored' });
  const parsed = parseRedirect(file.text);
  for (const p of parsed.problems) problems.push({ file: file.path, severity: SEVERITY[p.severity], message: p.message });
  if (parsed.kind !== 'redirect') return undefined;
  const { redirect } = parsed;
  return {
    path: file.path,
    family: redirect.version === 1 ? 'v1' : 'v2',
    registryId: redirect.registryId === '' ? undefined : redirect.registryId,
    url: redirect.url,
    imageIds: redirect.version === 1 ? redirect.imageIds : [],
  };
}

function lintAcross(loaded: readonly Loaded[], problems: LintProblem[]): void {
  const claimed = new Map<string, string>();
  for (const file of loaded) {
    if (file.registryId === undefined) continue;
    const key = `${file.family} ${file.registryId}`;
    const other = claimed.get(key);
    if (other === undefined) claimed.set(key, file.path);
    else problems.push({ file: file.path, severity: 'error', message: `repo-registry-id '${file.registryId}' is also claimed by ${other}: Crane serves only one of them` });
  }
  // Crane redirects an image to any one of the repositories listing it, chosen arbitrarily.
  const listedBy = new Map<string, Loaded>();
  for (const file of loaded) {
    const clashes = new Map<string, number>();
    for (const id of file.imageIds) {
      const other = listedBy.get(id);
      if (other === undefined) listedBy.set(id, file);
      else if (other.url !== file.url) clashes.set(other.path, (clashes.get(other.path) ?? 0) + 1);
    }
    for (const [other, count] of clashes) {
      problems.push({
        file: file.path,
        severity: 'warning',
        message: `${count} image(s) are also listed by ${other} under another url: Crane redirects each to either url, so both must serve them`,
      });
    }
  }
}

export function lintRedirectFiles(files: readonly MetadataText[]): LintProblem[] {
  const problems: LintProblem[] = [];
  const loaded: Loaded[] = [];
  for (const file of files) {
    const parsed = lintFile(file, problems);
    if (parsed) loaded.push(parsed);
  }
  lintAcross(loaded, problems);
  return problems;
}
