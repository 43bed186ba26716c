import { quoteName } from './entry-names.ts';
import type { ArchiveFormat } from './model.ts';
import { redirectFiles } from './pulp.ts';
import type { TarIndex } from './tar-index.ts';

const SHOWN = 12;

/**
 * Which reader an archive needs, from the entries it has. manifest.json wins over an OCI
 * layout because docker 25+ writes both and manifest.json carries the tags.
 */
export function detectFormat(index: TarIndex): ArchiveFormat {
  if (index.file('manifest.json') || index.file('repositories')) return 'docker-archive';
  if (index.file('oci-layout') && index.file('index.json')) return 'oci-archive';
  if (redirectFiles(index).length > 0 && index.isDirectory('web')) return 'pulp';
  const top = [...new Set(index.paths().map((p) => p.split('/')[0]!))];
  const found = top.length === 0 ? 'no entries' : top.slice(0, SHOWN).map(quoteName).join(', ') + (top.length > SHOWN ? `, and ${top.length - SHOWN} more` : '');
  return index.fail(
    `not a Pulp export, docker-archive or OCI archive: found ${found}`,
    'expected <repo-id>.json and web/ (Pulp), manifest.json or repositories (docker save, skopeo docker-archive:), or oci-layout and index.json (OCI)',
  );
}
