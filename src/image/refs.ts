import { quoteName } from './entry-names.ts';

/** "docker.io/acme/app:v1" -> ["docker.io/acme/app", "v1"]; a colon before the last "/" is a registry port. */
export function splitReference(ref: string): [name: string, tag: string] | undefined {
  const colon = ref.lastIndexOf(':');
  if (colon <= ref.lastIndexOf('/') || ref.includes('@')) return undefined;
  return [ref.slice(0, colon), ref.slice(colon + 1)];
}

/** Docker's familiar form of a name: Docker Hub's host and its "library/" namespace are implied. */
export function familiarName(name: string): string {
  const local = name.replace(/^(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  return /^library\/[^/]+$/.test(local) ? local.slice('library/'.length) : local;
}

/** Tags collected from an archive, and the repository names they came with (raas publishes one). */
export class TagSet {
  readonly tags = new Map<string, string>();
  readonly names = new Set<string>();

  add(name: string | undefined, tag: string, id: string, fail: (rule: string) => never): void {
    const previous = this.tags.get(tag);
    if (previous !== undefined && previous !== id) fail(`tag ${quoteName(tag)} is given to two different images`);
    if (name !== undefined) this.names.add(familiarName(name));
    this.tags.set(tag, id);
  }

  /** The one repository name, or an error naming them all. */
  archiveName(fail: (rule: string) => never): string | undefined {
    if (this.names.size > 1) {
      fail(`the archive holds several repositories (${[...this.names].map(quoteName).join(', ')}); raas publishes one repository per archive`);
    }
    return [...this.names][0];
  }
}
