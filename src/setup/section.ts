import { readFile } from 'node:fs/promises';
import type { Config, GearSize, IsvConfig } from '../config/config.ts';
import { parseConfig } from '../config/load.ts';
import { appRule, bucketRule, domainRule, isvRule, type NameRule } from '../config/names.ts';
import { ConfigError } from '../errors.ts';

/** The original's setup options; each names a key of the ISV's section. */
export interface SetupFlags {
  /** --s3bucket: s3_bucket */
  readonly bucket: string | undefined;
  /** --oodomain: openshift_domain */
  readonly domain: string | undefined;
  /** --ooapp: openshift_app */
  readonly app: string | undefined;
  /** --oonoscale: openshift_scale = false */
  readonly noScale: boolean;
  /** --oogearsize: openshift_gear_size */
  readonly gearSize: GearSize | undefined;
}

export interface ResolvedSection {
  /** The configuration to set up with: raas.cfg as read, or with the new section. */
  readonly config: Config;
  readonly isv: IsvConfig;
  /** When raas.cfg had no section for the ISV: the section, and raas.cfg's text with it appended. */
  readonly added: { readonly section: string; readonly text: string } | undefined;
}

function checkFlags(flags: SetupFlags): void {
  const checks: [string, string | undefined, NameRule][] = [
    ['--s3bucket', flags.bucket, bucketRule], ['--oodomain', flags.domain, domainRule], ['--ooapp', flags.app, appRule],
  ];
  for (const [flag, value, rule] of checks) {
    const broken = value === undefined ? undefined : rule(value);
    if (broken) throw new ConfigError(`'${value}' is not valid: ${broken}`, { where: flag });
  }
}

/** Each flag whose value the existing section contradicts, as "flag: what the section says". */
function disagreements(isv: IsvConfig, flags: SetupFlags): string[] {
  const found: string[] = [];
  if (flags.bucket !== undefined) {
    if (isv.storage.kind !== 's3') found.push(`--s3bucket ${flags.bucket}: the section has storage = ${isv.storage.kind}`);
    else if (isv.storage.bucket !== flags.bucket) found.push(`--s3bucket ${flags.bucket}: the section has s3_bucket = ${isv.storage.bucket}`);
  }
  const platform = isv.platform;
  const given: [string, string | undefined, string, string | undefined][] = [
    ['--oodomain', flags.domain, 'openshift_domain', platform.kind === 'openshift' ? platform.domain : undefined],
    ['--ooapp', flags.app, 'openshift_app', platform.kind === 'openshift' ? platform.app : undefined],
    ['--oonoscale', flags.noScale ? 'false' : undefined, 'openshift_scale', platform.kind === 'openshift' ? String(platform.scale) : undefined],
    ['--oogearsize', flags.gearSize, 'openshift_gear_size', platform.kind === 'openshift' ? platform.gearSize : undefined],
  ];
  for (const [flag, value, key, actual] of given) {
    if (value === undefined || value === actual) continue;
    const shown = flag === '--oonoscale' ? flag : `${flag} ${value}`;
    found.push(platform.kind === 'openshift' ? `${shown}: the section has ${key} = ${actual}` : `${shown}: the section has platform = ${platform.kind}`);
  }
  return found;
}

function sectionText(name: string, flags: SetupFlags, bucket: string): string {
  return [
    '# Added by raas setup.',
    `[${name}]`,
    'storage = s3',
    `s3_bucket = ${bucket}`,
    'platform = openshift',
    `openshift_domain = ${flags.domain ?? name}`,
    `openshift_app = ${flags.app ?? 'registry'}`,
    `openshift_scale = ${!flags.noScale}`,
    `openshift_gear_size = ${flags.gearSize ?? 'small'}`,
    '',
  ].join('\n');
}

/**
 * The ISV's section as setup will use it. An existing section wins, but a flag that says
 * otherwise stops setup rather than being ignored; a missing section is made from the
 * flags and validated like the rest of raas.cfg before anything is written.
 */
export async function resolveSection(config: Config, isvName: string, flags: SetupFlags, env: NodeJS.ProcessEnv): Promise<ResolvedSection> {
  const name = isvName.toLowerCase();
  const broken = isvRule(name);
  if (broken) throw new ConfigError(`'${isvName}' is not a valid ISV name: ${broken}`, { where: 'argument <isv>' });
  checkFlags(flags);
  const existing = config.isvs.get(name);
  if (existing) {
    const found = disagreements(existing, flags);
    if (found.length > 0) {
      throw new ConfigError(`raas.cfg [${name}] says otherwise:\n${found.map((f) => `  ${f}`).join('\n')}`, {
        where: config.file,
        fix: 'leave out those options, or change the section in raas.cfg and run setup again',
      });
    }
    return { config, isv: existing, added: undefined };
  }
  if (flags.bucket === undefined) {
    throw new ConfigError(`raas.cfg has no section [${name}]`, {
      where: config.file,
      fix: `pass --s3bucket <bucket> (and --oodomain, --ooapp, --oonoscale, --oogearsize as needed) to create it, or add a [${name}] section as raas.cfg.template shows`,
    });
  }
  const section = sectionText(name, flags, flags.bucket);
  const current = await readFile(config.file, 'utf8');
  const text = `${current}${current === '' || current.endsWith('\n') ? '' : '\n'}\n${section}`;
  const next = parseConfig(config.file, text, env);
  return { config: next, isv: next.isvs.get(name)!, added: { section, text } };
}
