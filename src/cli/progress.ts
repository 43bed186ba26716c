import cliProgress from 'cli-progress';
import type { Logger } from '../log.ts';
import type { PlannedObject } from '../publish/plan.ts';
import type { UploadProgress } from '../publish/upload.ts';

const mib = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

/** Plain lines, one per finished object, as the original printed; for logs, cron and CI. */
export function lineProgress(logger: Logger): UploadProgress {
  return {
    start: () => {},
    advance: () => {},
    finish: (object) => logger.info(`Uploaded ${object.key} (${mib(object.size)})`),
  };
}

/** One bar per layer in flight plus a total, redrawn in place; only on a terminal. */
export function barProgress(stream: NodeJS.WritableStream): UploadProgress & { stop(): void } {
  const bars = new cliProgress.MultiBar(
    {
      stream: stream as NodeJS.WriteStream,
      format: '{name} |{bar}| {percentage}% {done}/{size}',
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  const total = bars.create(0, 0, { name: 'total'.padEnd(19), done: mib(0), size: mib(0) });
  let totalBytes = 0;
  let sent = 0;
  const active = new Map<string, cliProgress.SingleBar>();
  return {
    start(object: PlannedObject) {
      totalBytes += object.size;
      total.setTotal(totalBytes);
      if (object.kind === 'layer') {
        active.set(object.key, bars.create(object.size, 0, { name: `${object.image.id.slice(0, 12)} layer `.padEnd(19), done: mib(0), size: mib(object.size) }));
      }
    },
    advance(object, bytes) {
      sent += bytes;
      total.update(sent, { done: mib(sent), size: mib(totalBytes) });
      const bar = active.get(object.key);
      bar?.increment(bytes, { done: mib(bar.getProgress() * object.size + bytes) });
    },
    finish(object) {
      const bar = active.get(object.key);
      if (bar) {
        bars.remove(bar);
        active.delete(object.key);
      }
    },
    stop: () => bars.stop(),
  };
}
