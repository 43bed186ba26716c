/**
 * Whether a process of this host still runs, for telling abandoned temporary directories
 * and locks from live ones. EPERM means it exists under another user; an invalid pid is
 * taken as alive, so nothing is ever removed on a misread marker.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
