/**
 * What a store may have in flight at once: a number of requests, and bytes of request
 * bodies held in memory. Uploads read each part into memory (so the SDK can retry it)
 * only after taking its share, so memory stays bounded however many objects the caller
 * uploads at once. First come, first served: a big part waiting at the head is not
 * overtaken by small ones.
 */
export interface Budget {
  /** Wait for one request and `bytes` of memory (a part larger than the whole budget gets all of it); returns the release. */
  acquire(bytes: number): Promise<() => void>;
}

export function createBudget(requests: number, bytes: number): Budget {
  let freeRequests = requests;
  let freeBytes = bytes;
  const queue: Array<{ bytes: number; grant: () => void }> = [];

  const pump = (): void => {
    for (let head = queue[0]; head && freeRequests > 0 && freeBytes >= head.bytes; head = queue[0]) {
      queue.shift();
      freeRequests -= 1;
      freeBytes -= head.bytes;
      head.grant();
    }
  };

  return {
    acquire(size) {
      const share = Math.min(size, bytes);
      return new Promise((resolve) => {
        let released = false;
        const release = (): void => {
          if (released) return;
          released = true;
          freeRequests += 1;
          freeBytes += share;
          pump();
        };
        queue.push({ bytes: share, grant: () => resolve(release) });
        pump();
      });
    },
  };
}
