import cliProgress from 'cli-progress';
import type { Logger } from '../log.ts';
import type { LayoutObject } from '../layout/layout.ts';
import type { WriteProgress } from '../publish/write.ts';

export const formatBytes = (bytes: number): string =>
  bytes < 1024 ? `${bytes} B` : bytes < 1024 ** 2 ? `${(bytes / 1024).toFixed(1)} KiB` : bytes < 1024 ** 3 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
const mib = formatBytes;

/** Plain lines, one per finished object, as the original printed; for logs, cron and CI. */
export function lineProgress(logger: Logger): WriteProgress {
  return {
    start: () => {},
    advance: () => {},
    finish: (object, ok) => {
      if (ok) logger.info(`Uploaded ${object.key} (${mib(object.size)})`);
    },
  };
}

/** A single bar for a download, on a terminal; the total may be unknown until the response arrives. */
export function downloadBar(stream: NodeJS.WritableStream): ((event: { total?: number; bytes: number }) => void) & { stop(): void } {
  const bar = new cliProgress.SingleBar(
    { stream: stream as NodeJS.WriteStream, format: 'download |{bar}| {percentage}% {done}/{size}', hideCursor: true, barsize: 30 },
    cliProgress.Presets.shades_classic,
  );
  let received = 0;
  let started = false;
  const update = (event: { total?: number; bytes: number }) => {
    if (!started) {
      bar.start(event.total ?? 0, 0, { done: mib(0), size: event.total === undefined ? '?' : mib(event.total) });
      started = true;
    }
    received += event.bytes;
    bar.update(received, { done: mib(received) });
    if (bar.getTotal() > 0 && received >= bar.getTotal()) bar.stop();
  };
  return Object.assign(update, { stop: () => started && bar.stop() });
}

/** One bar per layer in flight plus a total, redrawn in place; only on a terminal. */
export function barProgress(stream: NodeJS.WritableStream): WriteProgress {
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
    start(object: LayoutObject) {
      totalBytes += object.size;
      total.setTotal(totalBytes);
      if (object.layer !== undefined) {
        active.set(object.key, bars.create(object.size, 0, { name: `${object.layer.id.slice(0, 12)} layer `.padEnd(19), done: mib(0), size: mib(object.size) }));
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
    end: () => bars.stop(),
  };
}
