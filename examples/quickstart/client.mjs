// The quick start's registry client, in plain Node (no dependency), for what run.sh
// cannot do with the shell alone:
//   node client.mjs port                          a free loopback port
//   node client.mjs free <port>                   exit 0 when <port> is free on 127.0.0.1
//   node client.mjs wait <registry> <commit>      wait (at most 60 s) until raas serve serves <commit>
//   node client.mjs pull <registry> <name> <tag>  pull as a client does when skopeo is not installed:
//                                                 the manifest by tag (HEAD, then GET by digest) and
//                                                 every blob, each checked against its digest
import { createHash } from 'node:crypto';
import net from 'node:net';

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
].join(', ');

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const fail = (message) => {
  console.error(`client.mjs: ${message}`);
  process.exit(1);
};

async function port() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  console.log(server.address().port);
  server.close();
}

async function free(wanted) {
  const server = net.createServer();
  const ok = await new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(Number(wanted), '127.0.0.1', () => resolve(true));
  });
  server.close();
  process.exit(ok ? 0 : 1);
}

async function wait(registry, commit) {
  const deadline = Date.now() + 60_000;
  let said = 'no answer';
  while (Date.now() < deadline) {
    try {
      const answer = await fetch(`${registry}/_raas/ready`, { signal: AbortSignal.timeout(5000) });
      const ready = await answer.json();
      if (ready.ready && ready.commit === commit) return;
      said = JSON.stringify(ready);
    } catch (error) {
      said = error.cause?.code ?? error.message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  fail(`raas serve at ${registry} did not serve commit ${commit} within 60 s (last answer: ${said})`);
}

async function get(url, init = {}) {
  const answer = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  if (answer.status !== 200) fail(`${init.method ?? 'GET'} ${url} answered ${answer.status}`);
  return answer;
}

async function pull(registry, name, tag) {
  const base = `${registry}/v2/${name}`;
  // Resolve the tag as containerd does: HEAD first, then GET by the digest it names.
  const head = await get(`${base}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES } });
  const digest = head.headers.get('docker-content-digest');
  if (!digest) fail(`HEAD ${base}/manifests/${tag} named no Docker-Content-Digest`);
  const manifest = Buffer.from(await (await get(`${base}/manifests/${digest}`, { headers: { accept: MANIFEST_TYPES } })).arrayBuffer());
  if (sha256(manifest) !== digest) fail(`the manifest of ${name}:${tag} is ${sha256(manifest)}, not ${digest}`);
  const { config, layers } = JSON.parse(manifest.toString('utf8'));
  let bytes = 0;
  for (const blob of [config, ...layers]) {
    const body = Buffer.from(await (await get(`${base}/blobs/${blob.digest}`)).arrayBuffer());
    if (sha256(body) !== blob.digest || body.length !== blob.size) fail(`blob ${blob.digest} came back as ${sha256(body)} (${body.length} bytes)`);
    bytes += body.length;
  }
  console.log(`pulled ${name}:${tag} (${digest}): the manifest, the config and ${layers.length} layers, ${bytes} bytes, every digest checked`);
}

const [command, ...args] = process.argv.slice(2);
const commands = { port, free, wait, pull };
if (!commands[command]) fail(`unknown command ${command ?? '(none)'}: port, free, wait or pull`);
await commands[command](...args);
