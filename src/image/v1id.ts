import { sha256Hex, toDigest } from './digest.ts';
import { isObject } from './json.ts';
import type { Digest } from './model.ts';

/**
 * v1 ids for images that have none (OCI archives, docker 25+ `docker save`), derived the
 * way Docker's `image/tarexport` save did until docker 25 (moby image/tarexport/save.go
 * saveImage + image/v1/imagev1.go CreateID):
 *
 *   for layer i: v1Image = i is the top ? the config's V1Image fields : { created: epoch }
 *   id(i) = sha256(json.Marshal(map{ ...v1Image without id, layer_id: chainID(0..i),
 *                                    parent: "sha256:" + id(i-1) }))
 *
 * and the published v1 JSON is what that save wrote to `<id>/json`: json.Marshal of the
 * V1Image struct with `id`, `parent` (plain hex) and `os` set.
 *
 * How close this is: layers below the top (the ones masking matches across archives)
 * come out exactly as Docker 18-24 made them, as long as that daemon ran in UTC (Docker
 * used the daemon's local time zone for the epoch, e.g. "1970-01-01T01:00:00+01:00").
 * The top layer reproduces Go's encoding of V1Image and container.Config as of Docker 24:
 * struct field order, omitempty, zero values, StrSlice and null handling, sorted maps,
 * HTML-safe escaping, RFC 3339 times. Fields that Docker 24's structs do not know are
 * dropped, as Go drops them; a config with fields of the wrong JSON type is refused
 * (Docker could not have loaded it either).
 */

export interface DerivedV1 {
  readonly id: string;
  readonly parent: string | undefined;
  readonly json: Buffer;
}

/** chainID(0) = diffID(0); chainID(n) = sha256(chainID(n-1) + " " + diffID(n)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const previous = out.at(-1);
    out.push(previous === undefined ? diffId : toDigest(sha256Hex(`${previous} ${diffId}`)));
  }
  return out;
}

/** One v1 image per layer, base first. `config` is the parsed image config; throws TypeError on field types Go would reject. */
export function deriveV1Images(config: Record<string, unknown>, diffIds: readonly Digest[]): DerivedV1[] {
  const chains = chainIds(diffIds);
  const os = goString(pick(config, 'os'), 'os');
  const out: DerivedV1[] = [];
  let parent: string | undefined;
  chains.forEach((chainId, i) => {
    const fields: Field[] = i === chains.length - 1 ? v1ImageFields(config) : [['created', '"1970-01-01T00:00:00Z"'], ['container_config', containerConfig(undefined)]];
    const forId = new Map<string, string>(fields);
    forId.set('layer_id', encodeString(chainId));
    if (parent !== undefined) forId.set('parent', encodeString(`sha256:${parent}`));
    const id = sha256Hex(objectText(sortedEntries(forId)));

    // saveLayer: ID and Parent first (struct order), OS set after the id was computed.
    const published: Field[] = [['id', encodeString(id)]];
    if (parent !== undefined) published.push(['parent', encodeString(parent)]);
    published.push(...fields.filter(([key]) => key !== 'os' && key !== 'Size'));
    if (os !== '') published.push(['os', encodeString(os)]);
    published.push(...fields.filter(([key]) => key === 'Size'));
    out.push({ id, parent, json: Buffer.from(objectText(published)) });
    parent = id;
  });
  return out;
}

type Field = [key: string, json: string];
type Kind = 'string' | 'bool' | 'strings' | 'strslice' | 'set' | 'labels' | 'health' | 'int';

// Docker 24 api/types/container.Config, in struct order; `true` marks omitempty.
const CONTAINER_CONFIG: ReadonlyArray<readonly [string, Kind, boolean]> = [
  ['Hostname', 'string', false],
  ['Domainname', 'string', false],
  ['User', 'string', false],
  ['AttachStdin', 'bool', false],
  ['AttachStdout', 'bool', false],
  ['AttachStderr', 'bool', false],
  ['ExposedPorts', 'set', true],
  ['Tty', 'bool', false],
  ['OpenStdin', 'bool', false],
  ['StdinOnce', 'bool', false],
  ['Env', 'strings', false],
  ['Cmd', 'strslice', false],
  ['Healthcheck', 'health', true],
  ['ArgsEscaped', 'bool', true],
  ['Image', 'string', false],
  ['Volumes', 'set', false],
  ['WorkingDir', 'string', false],
  ['Entrypoint', 'strslice', false],
  ['NetworkDisabled', 'bool', true],
  ['MacAddress', 'string', true],
  ['OnBuild', 'strings', false],
  ['Labels', 'labels', false],
  ['StopSignal', 'string', true],
  ['StopTimeout', 'int', true],
  ['Shell', 'strslice', true],
];

/** The V1Image fields of an image config (id and parent are never taken from it), in struct order. */
function v1ImageFields(config: Record<string, unknown>): Field[] {
  const fields: Field[] = [];
  const str = (key: string) => {
    const s = goString(pick(config, key), key);
    if (s !== '') fields.push([key, encodeString(s)]);
  };
  str('comment');
  const created = pick(config, 'created');
  fields.push(['created', created === undefined || created === null ? 'null' : encodeTime(created)]);
  str('container');
  fields.push(['container_config', containerConfig(pick(config, 'container_config'))]);
  str('docker_version');
  str('author');
  const runConfig = pick(config, 'config');
  if (runConfig !== undefined && runConfig !== null) fields.push(['config', containerConfig(runConfig)]);
  str('architecture');
  str('variant');
  str('os');
  const size = pick(config, 'Size');
  if (size !== undefined && size !== null && goInt(size, 'Size') !== 0) fields.push(['Size', String(size)]);
  return fields;
}

function containerConfig(value: unknown): string {
  if (value !== undefined && value !== null && !isObject(value)) throw new TypeError('container config is not an object');
  const fields: Field[] = [];
  for (const [key, kind, omitEmpty] of CONTAINER_CONFIG) {
    const encoded = encodeKind(kind, value === undefined || value === null ? undefined : pick(value, key), key);
    if (!(omitEmpty && encoded.empty)) fields.push([key, encoded.json]);
  }
  return objectText(fields);
}

function encodeKind(kind: Kind, v: unknown, key: string): { json: string; empty: boolean } {
  const none = v === undefined || v === null;
  switch (kind) {
    case 'string': {
      const s = goString(v, key);
      return { json: encodeString(s), empty: s === '' };
    }
    case 'bool': {
      if (!none && typeof v !== 'boolean') throw new TypeError(`${key} is not a boolean`);
      return { json: String(v === true), empty: v !== true };
    }
    case 'int': {
      // A pointer in Go: present (even 0) is not empty.
      return none ? { json: 'null', empty: true } : { json: String(goInt(v, key)), empty: false };
    }
    case 'strings': {
      if (none) return { json: 'null', empty: true };
      const list = stringList(v, key);
      return { json: `[${list.map(encodeString).join(',')}]`, empty: list.length === 0 };
    }
    case 'strslice': {
      // Docker's StrSlice: absent stays nil, null unmarshals to [], a string to [string].
      if (v === undefined) return { json: 'null', empty: true };
      const list = v === null ? [] : typeof v === 'string' ? [v] : stringList(v, key);
      return { json: `[${list.map(encodeString).join(',')}]`, empty: list.length === 0 };
    }
    case 'set':
    case 'labels': {
      if (none) return { json: 'null', empty: true };
      if (!isObject(v)) throw new TypeError(`${key} is not an object`);
      const entries = new Map<string, string>();
      for (const [k, item] of Object.entries(v)) {
        if (kind === 'labels') entries.set(k, encodeString(goString(item, `${key}.${k}`)));
        else if (item !== null && !isObject(item)) throw new TypeError(`${key}.${k} is not an object`);
        else entries.set(k, '{}');
      }
      return { json: objectText(sortedEntries(entries)), empty: entries.size === 0 };
    }
    case 'health': {
      if (none) return { json: 'null', empty: true };
      if (!isObject(v)) throw new TypeError(`${key} is not an object`);
      const fields: Field[] = [];
      const test = pick(v, 'Test');
      if (test !== undefined && test !== null && stringList(test, 'Healthcheck.Test').length > 0) {
        fields.push(['Test', `[${stringList(test, 'Healthcheck.Test').map(encodeString).join(',')}]`]);
      }
      for (const name of ['Interval', 'Timeout', 'StartPeriod', 'Retries']) {
        const n = pick(v, name);
        if (n !== undefined && n !== null && goInt(n, `Healthcheck.${name}`) !== 0) fields.push([name, String(n)]);
      }
      return { json: objectText(fields), empty: false };
    }
  }
}

/** Go's decoder matches keys case-insensitively, preferring an exact match; the last matching key wins. */
function pick(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  let found: unknown;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(obj)) if (key.toLowerCase() === lower) found = value;
  return found;
}

function goString(v: unknown, key: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new TypeError(`${key} is not a string`);
  return v;
}

function goInt(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${key} is not an integer`);
  return v;
}

function stringList(v: unknown, key: string): string[] {
  if (!Array.isArray(v)) throw new TypeError(`${key} is not an array`);
  return v.map((item, i) => goString(item, `${key}[${i}]`));
}

/** Go's time.Time MarshalJSON of a parsed RFC 3339 time: RFC3339Nano, trailing zeros trimmed, "Z" for UTC. */
function encodeTime(v: unknown): string {
  const m = typeof v === 'string' ? /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)$/.exec(v) : null;
  if (!m) throw new TypeError('created is not an RFC 3339 time');
  const fraction = (m[2] ?? '').slice(0, 9).replace(/0+$/, '');
  const zone = m[3] === 'z' || m[3] === 'Z' || m[3] === '+00:00' || m[3] === '-00:00' ? 'Z' : m[3]!;
  return `"${m[1]}${fraction ? `.${fraction}` : ''}${zone}"`;
}

/** Go's encoding/json string escaping (HTML-safe, as json.Marshal does; \u00XX for controls, as before Go 1.22). */
// One replace over the string: appending code point by code point built a rope of one node
// per character (a 4 MiB label cost ~250 MiB of memory before it was flattened).
const GO_ESCAPED = /["\\\n\r\t<>&\u2028\u2029\u0000-\u001f]/g;
const GO_ESCAPES: Readonly<Record<string, string>> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function encodeString(s: string): string {
  return `"${s.replace(GO_ESCAPED, (ch) => GO_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/** Go sorts map keys by their UTF-8 bytes. */
function sortedEntries(map: ReadonlyMap<string, string>): Field[] {
  return [...map].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

const objectText = (fields: readonly Field[]): string => `{${fields.map(([k, v]) => `${encodeString(k)}:${v}`).join(',')}}`;
