import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, RaasError } from '../errors.ts';
import { relativeInside, type WorktreeFiles } from '../platform/worktree-files.ts';
import { MIN_SECRET_LENGTH, registerSecret } from '../log.ts';
import { CHECKSUM_MODES, GEAR_SIZES, type Config, type IsvConfig, type LayoutConfig, type PlatformConfig, type StorageConfig } from './config.ts';
import { parseIni, type IniDocument } from './ini-file.ts';
import { interpolate } from './interpolate.ts';
import { keyProblem, normalizePrefix } from '../storage/keys.ts';
import { appRule, bucketRule, domainRule, isvRule, repoPathRule, type NameRule } from './names.ts';

interface Problem {
  readonly where: string;
  readonly message: string;
  readonly fix: string;
}

const COMMON_SECTIONS = ['redhat', 'pulp', 'openshift', 'aws'] as const;

const KNOWN_KEYS: Record<string, readonly string[]> = {
  redhat: ['mask_layers', 'metadata'],
  pulp: ['export_url', 'connect_timeout', 'stall_timeout'],
  openshift: ['server_url', 'app_git_url', 'cartridge', 'username', 'password', 'auth_token'],
  aws: ['access_key_id', 'secret_access_key', 'session_token', 'region', 'endpoint', 'force_path_style', 'prefix', 'acl', 'max_concurrency', 'part_size', 'checksums', 'request_timeout'],
  isv: [
    'storage', 's3_bucket', 'storage_dir', 'public_url', 'platform', 'openshift_domain', 'openshift_app',
    'openshift_scale', 'openshift_gear_size', 'app_remote', 'registry_url', 'crane_data_dir',
    'access', 'presign_lifetime', 'layout', 'root_directory', 'masked_layers',
  ],
};

const ALL_KNOWN_KEYS = new Set(Object.values(KNOWN_KEYS).flat());

/**
 * The common section a section name is probably a typo of ([awz], [AWS], [openshfit]), when
 * it holds no ISV keys: such a section is reported, not taken as an ISV.
 */
function misspeltSection(doc: IniDocument, section: string): string | undefined {
  const name = section.toLowerCase();
  const close = COMMON_SECTIONS.find((c) => editDistance(c, name) <= (c.length <= 4 ? 1 : 2));
  if (close === undefined) return undefined;
  const keys = [...(doc.sections.get(section)?.keys() ?? [])];
  return keys.some((k) => KNOWN_KEYS.isv!.includes(k)) ? undefined : close;
}

const SECRET_KEYS = new Set(['password', 'auth_token', 'secret_access_key', 'session_token']);

/**
 * Reads one section's values: interpolates the environment, applies defaults, checks each
 * value against its rule and records every problem (not only the first), so that one run
 * shows the user everything to fix.
 */
class SectionReader {
  private readonly doc: IniDocument;
  private readonly section: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly problems: Problem[];

  constructor(doc: IniDocument, section: string, env: NodeJS.ProcessEnv, problems: Problem[]) {
    this.doc = doc;
    this.section = section;
    this.env = env;
    this.problems = problems;
  }

  where(key?: string): string {
    const line = this.doc.lineOf(this.section, key);
    const file = line === undefined ? this.doc.file : `${this.doc.file}:${line}`;
    return key === undefined ? `${file} [${this.section}]` : `${file} [${this.section}] ${key}`;
  }

  hasProblem(key: string): boolean {
    return this.problems.some((p) => p.where === this.where(key));
  }

  problem(key: string | undefined, message: string, fix: string): undefined {
    this.problems.push({ where: this.where(key), message, fix });
    return undefined;
  }

  /** The interpolated value, or undefined when the key is absent or empty. */
  string(key: string, rule?: NameRule): string | undefined {
    const raw = this.doc.sections.get(this.section)?.get(key);
    if (raw === undefined) return undefined;
    const result = interpolate(raw, this.env);
    if (!result.ok) {
      return this.problem(key, `environment variable ${result.variable} is not set`,
        `export ${result.variable}=..., or write \${${result.variable}:-default} to give a default`);
    }
    const value = result.value.trim();
    if (SECRET_KEYS.has(key) && !registerSecret(value)) {
      return this.problem(key, `the value is shorter than ${MIN_SECRET_LENGTH} characters: raas cannot keep so short a secret out of what it prints and logs`,
        key === 'password' ? 'use a longer password, or auth_token instead' : `check the value of ${key}`);
    }
    if (value === '') return undefined;
    const broken = rule?.(value);
    return broken ? this.problem(key, `'${value}' is not valid: ${broken}`, `correct the value of ${key}`) : value;
  }

  /** A key of this section that is no known key but close to `key`: its typo, already reported as unknown. */
  misspelt(key: string): boolean {
    return [...(this.doc.sections.get(this.section)?.keys() ?? [])].some((k) => !ALL_KNOWN_KEYS.has(k) && editDistance(key, k.toLowerCase()) <= 2);
  }

  required(key: string, why: string, rule?: NameRule): string | undefined {
    const value = this.string(key, rule);
    if (value === undefined && !this.hasProblem(key) && !this.misspelt(key)) {
      return this.problem(key, `${key} is required ${why}`, `add "${key} = ..." to [${this.section}]`);
    }
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.string(key)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', 'yes', 'on', '1'].includes(value)) return true;
    if (['false', 'no', 'off', '0'].includes(value)) return false;
    this.problem(key, `'${value}' is not a boolean`, 'use true or false');
    return fallback;
  }

  choice<T extends string, F extends T | undefined = T>(key: string, choices: readonly T[], fallback: F): T | F {
    const value = this.string(key);
    if (value === undefined) return fallback;
    if ((choices as readonly string[]).includes(value)) return value as T;
    this.problem(key, `'${value}' is not one of ${choices.join(', ')}`, `use one of ${choices.join(', ')}`);
    return fallback;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const value = this.string(key);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    this.problem(key, `'${value}' is not a whole number from ${min} to ${max}`, `use a number from ${min} to ${max}`);
    return fallback;
  }

  url(key: string): string | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    try {
      const url = new URL(value);
      if (!['http:', 'https:'].includes(url.protocol)) throw new Error('protocol');
      return value;
    } catch {
      return this.problem(key, `'${value}' is not an http(s) URL`, 'write a full URL such as https://host/path/');
    }
  }

  unknownKeys(known: readonly string[]): void {
    for (const key of this.doc.sections.get(this.section)?.keys() ?? []) {
      if (known.includes(key)) continue;
      const close = known.find((k) => editDistance(k, key.toLowerCase()) <= 2);
      this.problem(key, `unknown key '${key}'`, close ? `did you mean ${close}?` : `known keys: ${known.join(', ')}`);
    }
  }
}

/** Levenshtein distance, for "did you mean" on misspelt keys. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** `[aws] prefix`: a key prefix, so a key's rules for each segment (a final "/" is optional). */
const prefixRule: NameRule = (value) => keyProblem(value.replace(/\/$/, ''));

const MASK_ENTRY = /^(?:sha256:)?[0-9a-f]{64}$/;

function parseMaskLayers(reader: SectionReader): string[] {
  const text = reader.string('mask_layers') ?? '';
  const entries = text.split(/[\s,]+/).filter(Boolean).map((e) => e.toLowerCase());
  for (const entry of entries) {
    if (!MASK_ENTRY.test(entry)) {
      reader.problem('mask_layers', `'${entry}' is not an image id (64 hex) or a sha256: digest`, 'list ids or sha256:<hex> digests separated by commas, spaces or new lines');
    }
  }
  return [...new Set(entries)];
}

const resolveFrom = (dir: string, p: string): string => path.resolve(dir, p);

/** A local path (absolute or relative) rather than a URL or an scp-style `host:path` remote. */
const isLocalPath = (remote: string): boolean => !/^[a-z][a-z0-9+.-]*:\/\//i.test(remote) && !/^[^/\\]+@[^/:]+:|^[a-z0-9.-]+:(?!\\)/i.test(remote);

function readIsv(doc: IniDocument, section: string, env: NodeJS.ProcessEnv, problems: Problem[], dir: string): IsvConfig | undefined {
  const reader = new SectionReader(doc, section, env, problems);
  if (isvRule(section.toLowerCase())) {
    reader.problem(undefined, `'${section}' is not a valid ISV name: ${isvRule(section.toLowerCase())}`, 'rename the section');
    return undefined;
  }
  reader.unknownKeys(KNOWN_KEYS.isv!);
  const name = section.toLowerCase();
  const publicUrl = reader.url('public_url');
  const storageKind = reader.choice('storage', ['s3', 'file'] as const, 's3');
  const storage: StorageConfig | undefined =
    storageKind === 's3'
      ? withValue(reader.required('s3_bucket', 'for storage = s3', bucketRule), (bucket) => ({ kind: 's3', bucket, publicUrl }))
      : withValue(reader.required('storage_dir', 'for storage = file'), (d) => ({ kind: 'file', dir: resolveFrom(dir, d), publicUrl }));

  const layoutKind = reader.choice('layout', ['crane', 'distribution'] as const, 'crane');
  // A stock registry reading the store needs no Crane app; Crane needs one.
  const platformKind = reader.choice('platform', ['openshift', 'git', 'none'] as const, layoutKind === 'distribution' ? 'none' : 'openshift');
  if (layoutKind === 'distribution' && platformKind !== 'none' && !reader.hasProblem('platform')) {
    reader.problem('platform', `platform = ${platformKind} deploys a Crane app, which does not serve layout = distribution (a stock registry reads the store itself)`, 'remove the platform line, or set platform = none');
  }
  if (layoutKind === 'crane' && platformKind === 'none') {
    reader.problem('platform', 'platform = none leaves layout = crane without the Crane app that serves it', 'set layout = distribution for a stock registry, or platform = git or openshift');
  }
  const rootDirectory = reader.string('root_directory');
  const rootProblem = rootDirectory === undefined ? undefined : keyProblem(rootDirectory.replace(/^\/+|\/+$/g, '') || 'x');
  if (rootProblem) reader.problem('root_directory', `'${rootDirectory}' is not a usable root directory: ${rootProblem}`, 'use a relative path such as registry or a/b');
  if (rootDirectory !== undefined && layoutKind !== 'distribution') reader.problem('root_directory', 'root_directory is for layout = distribution', 'remove it, or set layout = distribution');
  const maskedLayers = reader.choice('masked_layers', ['skip', 'upload'] as const, 'skip');
  const layout: LayoutConfig = layoutKind === 'crane'
    ? { kind: 'crane' }
    : { kind: 'distribution', rootDirectory: rootProblem || rootDirectory === undefined ? '' : normalizePrefix(rootDirectory), maskedLayers };
  // Keys of the other platform are still checked: a typo there is a typo all the same.
  const openshift = {
    kind: 'openshift' as const,
    domain: reader.string('openshift_domain', domainRule) ?? name,
    app: reader.string('openshift_app', appRule) ?? 'registry',
    scale: reader.bool('openshift_scale', true),
    gearSize: reader.choice('openshift_gear_size', GEAR_SIZES, 'small'),
  };
  const platform: PlatformConfig | undefined =
    platformKind === 'openshift'
      ? openshift
      : platformKind === 'none'
        ? { kind: 'none' }
        : withValue(reader.required('app_remote', 'for platform = git'), (remote) => ({
          kind: 'git',
          remote: isLocalPath(remote) ? resolveFrom(dir, remote) : remote,
        }));
  const craneDataDir = reader.string('crane_data_dir', repoPathRule) ?? 'crane/data';
  const registryUrl = reader.url('registry_url');
  if (platformKind === 'git' && registryUrl === undefined && !reader.hasProblem('registry_url') && !reader.misspelt('registry_url')) {
    reader.problem('registry_url', 'registry_url is required for platform = git', 'add "registry_url = https://<your registry host>" (used for docker pull references and checks)');
  }
  const access = reader.choice('access', ['public', 'private'] as const, 'public');
  if (access === 'private' && storageKind === 'file') {
    reader.problem('access', 'access = private needs storage = s3 (a directory is read by raas serve itself, or published by a web server)', 'remove "access = private" or use storage = s3');
  }
  // S3 refuses pre-signed URLs valid for more than 7 days.
  const presignSeconds = reader.integer('presign_lifetime', 20, 1, 7 * 24 * 60) * 60;
  if (!storage || !platform) return undefined;
  return { name, storage, platform, registryUrl, craneDataDir, access, presignSeconds, layout };
}

const withValue = <T, R>(value: T | undefined, make: (v: T) => R): R | undefined => (value === undefined ? undefined : make(value));

/** Parse and validate raas.cfg; throws one ConfigError listing every problem. */
export function parseConfig(file: string, text: string, env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseIni(file, text);
  const dir = path.dirname(path.resolve(file));
  const problems: Problem[] = [];
  const reader = (section: string) => new SectionReader(doc, section, env, problems);

  for (const bad of doc.invalidLines) {
    problems.push({ where: `${file}:${bad.line}`, message: `'${bad.text}' is not an ini line`, fix: 'write [section], key = value, or a comment starting with # or ;' });
  }
  for (const key of doc.sections.get('')?.keys() ?? []) {
    reader('').problem(key, `'${key}' is outside any [section]`, 'move it under the section it belongs to');
  }
  for (const section of COMMON_SECTIONS) reader(section).unknownKeys(KNOWN_KEYS[section]!);

  const redhat = reader('redhat');
  const maskLayers = parseMaskLayers(redhat);
  const metadata = (redhat.string('metadata') ?? 'redhat/metadata')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((entry) => (/^https?:\/\//.test(entry) ? entry : resolveFrom(dir, entry)));

  const openshiftReader = reader('openshift');
  const openshift = {
    serverUrl: openshiftReader.url('server_url'),
    appGitUrl: openshiftReader.string('app_git_url'),
    cartridge: openshiftReader.string('cartridge') ?? 'python-2.7',
    username: openshiftReader.string('username'),
    password: openshiftReader.string('password'),
    authToken: openshiftReader.string('auth_token'),
  };

  const awsReader = reader('aws');
  const accessKeyId = awsReader.string('access_key_id');
  const secretAccessKey = awsReader.string('secret_access_key');
  const sessionToken = awsReader.string('session_token');
  const keysReadable = ['access_key_id', 'secret_access_key'].every((k) => !awsReader.hasProblem(k) && !awsReader.misspelt(k));
  if (keysReadable && (accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    awsReader.problem(accessKeyId ? 'secret_access_key' : 'access_key_id', 'access_key_id and secret_access_key go together',
      'set both, or neither to use the AWS credential chain (AWS_* variables, ~/.aws, profiles)');
  }
  const prefix = awsReader.string('prefix', prefixRule) ?? '';
  const aws = {
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } : undefined,
    region: awsReader.string('region'),
    endpoint: awsReader.url('endpoint'),
    forcePathStyle: awsReader.bool('force_path_style', false),
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
    acl: awsReader.choice('acl', ['public-read', 'none'] as const, 'public-read'),
    maxConcurrency: awsReader.integer('max_concurrency', 8, 1, 64),
    // 0 stands for "not set" (and for a refused value, whose problem is already recorded).
    partSize: withValue(awsReader.integer('part_size', 0, 5, 5120) || undefined, (mib) => mib * 1024 * 1024),
    checksums: awsReader.choice('checksums', CHECKSUM_MODES, undefined),
    requestTimeoutMs: awsReader.integer('request_timeout', 60, 1, 3600) * 1000,
  };

  const pulpReader = reader('pulp');
  const pulp = {
    exportUrl: pulpReader.url('export_url'),
    timeouts: { connectMs: pulpReader.integer('connect_timeout', 30, 1, 3600) * 1000, stallMs: pulpReader.integer('stall_timeout', 60, 1, 3600) * 1000 },
  };

  const isvs = new Map<string, IsvConfig>();
  for (const section of doc.sections.keys()) {
    if (section === '' || (COMMON_SECTIONS as readonly string[]).includes(section)) continue;
    const typo = misspeltSection(doc, section);
    if (typo !== undefined) {
      reader(section).problem(undefined, `not a known section, and probably a misspelling of [${typo}]: it holds no ISV keys, so it is read neither as [${typo}] nor as an ISV`, `rename it [${typo}]`);
      continue;
    }
    const isv = readIsv(doc, section, env, problems, dir);
    if (isv) isvs.set(isv.name, isv);
  }

  if (problems.length > 0) {
    const lines = problems.map((p) => `  ${p.where}: ${p.message}\n    fix: ${p.fix}`);
    throw new ConfigError(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the configuration:\n${lines.join('\n')}`, {
      where: file,
    });
  }
  return { file: path.resolve(file), dir, redhat: { maskLayers, metadata }, pulp, openshift, aws, isvs };
}

/** A raas.cfg is a few KiB; this bounds what a clone can make raas read. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Reads and validates raas.cfg. With `clone` (the working copy raas cloned it from), it is
 * read as a file inside that clone: a link committed as raas.cfg is refused, not followed.
 */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, options: { readonly clone?: WorktreeFiles } = {}): Promise<Config> {
  let text: string | undefined;
  let why = 'ENOENT';
  try {
    text = options.clone
      ? await options.clone.read(relativeInside(options.clone.root, file) ?? path.basename(file), { maxBytes: MAX_CONFIG_BYTES })
      : await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof RaasError) throw error;
    why = (error as NodeJS.ErrnoException).code ?? String(error);
  }
  if (text === undefined) throw new ConfigError(`cannot read ${file}: ${why}`, { fix: 'copy raas.cfg.template to raas.cfg and edit it' });
  return parseConfig(file, text, env);
}

/** The ISV's section, or a ConfigError listing the ISVs that exist. */
export function isvConfig(config: Config, isv: string): IsvConfig {
  const broken = isvRule(isv.toLowerCase());
  if (broken) throw new ConfigError(`'${isv}' is not a valid ISV name: ${broken}`, { where: 'argument <isv>' });
  const found = config.isvs.get(isv.toLowerCase());
  if (!found) {
    const known = [...config.isvs.keys()];
    throw new ConfigError(`no section [${isv.toLowerCase()}] for ISV '${isv}'`, {
      where: config.file,
      fix: known.length ? `use one of: ${known.join(', ')}; or add a [${isv.toLowerCase()}] section` : `add a [${isv.toLowerCase()}] section (see raas.cfg.template)`,
    });
  }
  return found;
}
