import path from 'node:path';
import type { AwsConfig, IsvConfig } from '../config/config.ts';
import { ConfigError } from '../errors.ts';
import { storeRegion } from '../storage/open.ts';

/**
 * The configuration of a stock Distribution 2.8 registry (Debian's docker-registry) that
 * serves an ISV's store read-only, as YAML (its config file) or as the REGISTRY_* variables
 * the same settings have in its environment (seed 003's form). raas owns the layout, so
 * the registry is read-only and never deletes. Secrets are never written out: the driver
 * reads credentials itself from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the
 * REGISTRY_STORAGE_S3_ACCESSKEY / SECRETKEY variables) of its own environment.
 */
export interface RegistryConfig {
  /** One entry per setting: its path in the YAML file, and its value. */
  readonly settings: readonly (readonly [path: readonly string[], value: string | number | boolean])[];
  /** Lines for the operator, printed as comments. */
  readonly notes: readonly string[];
}

export interface RegistryConfigOptions {
  /** http.addr: where the registry listens. */
  readonly listen: string;
}

export function registryConfig(isv: IsvConfig, aws: AwsConfig, options: RegistryConfigOptions): RegistryConfig {
  if (isv.layout.kind !== 'distribution') {
    throw new ConfigError(`${isv.name} publishes the Crane layouts, which a stock registry cannot read`, {
      where: `raas.cfg [${isv.name}] layout`,
      fix: 'set layout = distribution in the section and push again, or serve it with raas serve',
    });
  }
  const settings: [string[], string | number | boolean][] = [[['version'], '0.1'], [['log', 'level'], 'info']];
  const notes: string[] = [];
  const root = isv.layout.rootDirectory;
  if (isv.storage.kind === 'file') {
    settings.push([['storage', 'filesystem', 'rootdirectory'], path.join(isv.storage.dir, root)]);
  } else {
    const prefix = `${aws.prefix}${root}`.replace(/\/$/, '');
    const region = storeRegion(aws);
    settings.push([['storage', 's3', 'bucket'], isv.storage.bucket], [['storage', 's3', 'region'], region]);
    if (aws.endpoint !== undefined) {
      settings.push([['storage', 's3', 'regionendpoint'], aws.endpoint]);
      // The 2.8 driver takes the scheme from `secure`, not from the endpoint.
      settings.push([['storage', 's3', 'secure'], !aws.endpoint.startsWith('http://')]);
      if (!aws.forcePathStyle) notes.push('Distribution 2.8\'s s3 driver always uses path-style requests with a regionendpoint; a service that needs virtual-hosted style (Aliyun OSS) needs its own driver (seed 004) or a newer registry');
    }
    // The driver's rootdirectory starts with "/" (it strips it from the keys it makes).
    if (prefix !== '') settings.push([['storage', 's3', 'rootdirectory'], `/${prefix}`]);
    notes.push('credentials: the registry reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or REGISTRY_STORAGE_S3_ACCESSKEY / REGISTRY_STORAGE_S3_SECRETKEY) from its own environment; they are not written here');
    notes.push(isv.access === 'private'
      ? 'blob downloads are redirected to pre-signed URLs of the bucket (the driver signs them), so clients need to reach the endpoint'
      : 'blob downloads are redirected to pre-signed URLs of the bucket; set storage.redirect.disable to true to stream them through the registry instead');
  }
  settings.push(
    [['storage', 'delete', 'enabled'], false],
    // raas writes the layout; a registry that wrote or purged uploads would race with it.
    [['storage', 'maintenance', 'readonly', 'enabled'], true],
    [['storage', 'maintenance', 'uploadpurging', 'enabled'], false],
    [['storage', 'redirect', 'disable'], isv.storage.kind === 'file'],
    [['http', 'addr'], options.listen],
  );
  if (isv.layout.maskedLayers === 'skip') {
    notes.push('masked layers are not stored (masked_layers = skip): manifests name them as foreign layers with their host\'s URL, which containerd and containers/image (skopeo, podman) fetch; clients that do not follow descriptor urls need masked_layers = upload');
  }
  return { settings, notes };
}

/** The YAML config file. */
export function registryConfigYaml(config: RegistryConfig): string {
  const lines = config.notes.map((n) => `# ${n}`);
  const written: string[][] = [];
  for (const [keys, value] of config.settings) {
    // Open each mapping once, at the first setting under it.
    keys.forEach((key, depth) => {
      const at = keys.slice(0, depth + 1);
      if (depth < keys.length - 1 && written.some((w) => w.length === at.length && w.every((k, i) => k === at[i]))) return;
      if (depth < keys.length - 1) {
        written.push(at);
        lines.push(`${'  '.repeat(depth)}${key}:`);
      } else {
        lines.push(`${'  '.repeat(depth)}${key}: ${yamlScalar(value)}`);
      }
    });
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The same settings as REGISTRY_* environment variables (name=value lines, shell-quoted).
 * The registry maps a variable onto at most three levels of `storage` (its driver
 * parameters are one map); a setting nested deeper is given as a YAML flow mapping of
 * what lies below (REGISTRY_STORAGE_MAINTENANCE_READONLY='{enabled: true}').
 */
export function registryConfigEnv(config: RegistryConfig): string {
  const lines = config.notes.map((n) => `# ${n}`);
  const grouped = new Map<string, string[]>();
  for (const [keys, value] of config.settings) {
    if (keys[0] === 'version') continue;
    const name = `REGISTRY_${keys.slice(0, 3).map((k) => k.toUpperCase()).join('_')}`;
    const below = keys.slice(3).reduceRight<string>((inner, key) => `{${key}: ${inner}}`, yamlScalar(value));
    if (keys.length <= 3) grouped.set(name, [yamlScalar(value)]);
    else grouped.set(name, [...(grouped.get(name) ?? []), below.slice(1, -1)]);
  }
  for (const [name, values] of grouped) {
    const deep = values.length > 1 || values[0]!.includes(': ');
    lines.push(`${name}=${shellQuote(deep ? `{${values.join(', ')}}` : values[0]!)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Quoted whenever YAML would read the text as anything but that string. */
function yamlScalar(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value);
  return /^[A-Za-z0-9_./:-]+$/.test(value) && !/^(true|false|yes|no|on|off|null|~|[0-9.]+)$/i.test(value) ? value : JSON.stringify(value);
}

const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
