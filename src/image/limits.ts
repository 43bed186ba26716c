import { ConfigError } from '../errors.ts';

/**
 * Bounds on what an archive may make raas do. Archives come from outside (ISVs, Pulp
 * exports of unknown age), so every resource an archive can claim is capped and a
 * breach is an InputError, not an out-of-memory crash or a full disk.
 */
export interface ArchiveLimits {
  /** Bytes a gzip-compressed archive may decompress to (tar bomb guard). */
  readonly maxUnpackedBytes: number;
  /** Tar entries, counting extension headers. */
  readonly maxEntries: number;
  /** Size of one JSON metadata file (manifest, config, v1 json, redirect file). */
  readonly maxJsonBytes: number;
  /** Nesting of arrays and objects in one JSON file. */
  readonly maxJsonDepth: number;
  /** Body of one PAX or GNU long-name header. */
  readonly maxHeaderBytes: number;
  /** Length of one entry name or link target, in UTF-8 bytes. */
  readonly maxPathBytes: number;
  /** Bytes of all the distinct JSON metadata files read from one archive together. */
  readonly maxMetadataBytes: number;
  /** Descriptors (index entries, configs, layers, manifest.json items and their layers) in one archive. */
  readonly maxDescriptors: number;
  /**
   * Share of the free space in the scratch directory (TMPDIR) that decompressing may use,
   * in percent, measured when decompression starts: the disk must not fill before the
   * archive is refused.
   */
  readonly maxUnpackedFreePercent: number;
}

export const DEFAULT_LIMITS: ArchiveLimits = {
  maxUnpackedBytes: 64 * 1024 ** 3,
  maxEntries: 100_000,
  maxJsonBytes: 8 * 1024 ** 2,
  maxJsonDepth: 64,
  maxHeaderBytes: 1024 ** 2,
  maxPathBytes: 4096,
  maxMetadataBytes: 64 * 1024 ** 2,
  maxDescriptors: 10_000,
  maxUnpackedFreePercent: 90,
};

/** Limits that are percentages. */
const PERCENT: ReadonlySet<string> = new Set(['maxUnpackedFreePercent']);

export const resolveLimits = (overrides: Partial<ArchiveLimits> = {}): ArchiveLimits => ({ ...DEFAULT_LIMITS, ...overrides });

/** The environment variable that overrides limits: "maxUnpackedBytes=1073741824,maxEntries=5000". */
export const LIMITS_VARIABLE = 'RAAS_ARCHIVE_LIMITS';

/** Limits named in RAAS_ARCHIVE_LIMITS (positive whole numbers); a wrong name or value is a ConfigError. */
export function parseLimits(text: string | undefined): Partial<ArchiveLimits> {
  const limits: Record<string, number> = {};
  for (const item of (text ?? '').split(/[\s,]+/).filter(Boolean)) {
    const [name = '', value = ''] = item.split('=');
    const n = Number(value);
    if (!(name in DEFAULT_LIMITS)) {
      throw new ConfigError(`unknown archive limit '${name}'`, { where: LIMITS_VARIABLE, fix: `use ${Object.keys(DEFAULT_LIMITS).join(', ')}` });
    }
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new ConfigError(`'${value}' is not a positive whole number`, { where: `${LIMITS_VARIABLE} ${name}`, fix: `write ${name}=<number>` });
    }
    if (PERCENT.has(name) && n > 100) {
      throw new ConfigError(`'${value}' is more than 100 (a percentage)`, { where: `${LIMITS_VARIABLE} ${name}`, fix: `write ${name}=<1 to 100>` });
    }
    limits[name] = n;
  }
  return limits as Partial<ArchiveLimits>;
}
