import { startS3 } from '../test/helpers/s3.ts';

/**
 * s3rver in a process of its own, so neither the benchmark's bookkeeping nor the measured
 * clients share its event loop. Prints its endpoint as one JSON line; stops when stdin closes.
 */
const s3 = await startS3();
process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void s3.stop().then(() => process.exit(0));
});
