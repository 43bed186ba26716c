import { nextRedirectFile } from '../../crane/metadata.ts';
import type { V1Image } from '../../image/model.ts';
import type { LayoutPlan, PublishInput, StorageLayout } from '../layout.ts';
import { appPrefix, v1MetadataName } from './keys.ts';
import { planV1 } from './plan.ts';
import { v1Pullable } from './pullable.ts';

/**
 * The layout the original wrote, which Crane's v1 API and `raas serve` redirect into:
 * `<app>/<id>/{layer,json,ancestry}` per v1 image, and a version 1 redirect file listing
 * the images and tags. Layers another app of the store holds are copied server-side.
 * Images with a zstd layer, which Docker v1 clients cannot unpack, are left out (pullable.ts).
 */
export const craneV1: StorageLayout = {
  name: 'crane-v1',
  servedBy: 'crane',
  prefixes: (image) => [appPrefix(image.flat)],
  async plan(input: PublishInput): Promise<LayoutPlan> {
    const { store, flat, image, isv } = input;
    const url = store.publicUrl(appPrefix(flat));
    const { images: published, tags } = await v1Pullable(input);
    if (tags.size === 0 && input.tags.size > 0) {
      input.logger.warn(`v1: nothing of ${image} is published for Docker v1 clients: every tag has a zstd layer`);
      return { layout: 'crane-v1', write: [], present: [], report: { url } };
    }
    const hashLayer = async (layer: V1Image) => (await input.digests(layer)).sha256;
    const plan = await planV1({ store, flatName: flat, images: published, listing: input.listing, hashLayer, concurrency: input.concurrency });
    const name = v1MetadataName(isv, flat);
    const copies = plan.write.filter((o) => o.copyFrom !== undefined).length;
    input.logger.info(`${plan.write.length} objects to upload (${copies} by copying another app's), ${plan.present.length} already in ${store.location}`);
    return {
      layout: 'crane-v1',
      write: plan.write,
      present: plan.present,
      frontEnd: {
        name,
        backupName: `${flat}.json`,
        file: (deployed, logger, dataDir) => ({
          name,
          text: nextRedirectFile(
            { repository: `${isv}-${flat}`, registryId: image, url, imageIds: published.map((i) => i.id), tags },
            deployed.has(name) ? { file: `${dataDir}/${name}`, text: deployed.get(name)! } : undefined,
            logger,
          ),
        }),
      },
      report: { url },
    };
  },
};
