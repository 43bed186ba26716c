import pLimit from 'p-limit';
import type { V1Image } from '../../image/model.ts';
import { checkedCompression } from '../../image/verify.ts';
import type { PublishInput } from '../layout.ts';

/** What the v1 layout publishes: the images and tags Docker v1 clients can pull. */
export interface V1Pullable {
  readonly images: readonly V1Image[];
  readonly tags: ReadonlyMap<string, string>;
}

/**
 * Docker v1 clients unpack plain, gzip, bzip2 and xz layers but not zstd ones, so an image
 * with a zstd layer anywhere in its ancestry cannot be pulled through the v1 API: it and
 * the tags naming it are left out of the v1 layout, each tag with a warning that names the
 * layer. The archive's other images and tags are published as before.
 */
export async function v1Pullable(input: Pick<PublishInput, 'repo' | 'tags' | 'published' | 'digests' | 'concurrency' | 'logger'>): Promise<V1Pullable> {
  const limit = pLimit(Math.max(1, input.concurrency));
  const compressions = await Promise.all(input.repo.images.map((image) => limit(async () => [image, await checkedCompression(image, input.digests)] as const)));
  const zstd = new Map(compressions.filter(([, c]) => c === 'zstd').map(([image]) => [image.id, image]));
  if (zstd.size === 0) return { images: input.published, tags: input.tags };

  const byId = new Map(input.repo.images.map((image) => [image.id, image]));
  const zstdLayerOf = (id: string): V1Image | undefined => {
    const ancestry = byId.get(id)?.ancestry ?? [];
    return zstd.get([...ancestry].reverse().find((a) => zstd.has(a)) ?? '');
  };
  const tags = new Map<string, string>();
  for (const [tag, top] of input.tags) {
    const layer = zstdLayerOf(top);
    if (layer === undefined) tags.set(tag, top);
    else input.logger.warn(`v1: tag ${tag} is not published for Docker v1 clients: its layer ${layer.id} is zstd-compressed, which they cannot unpack (${layer.layer.where ?? 'in the archive'})`);
  }
  return { images: input.published.filter((image) => zstdLayerOf(image.id) === undefined), tags };
}
