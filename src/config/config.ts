/** raas.cfg, parsed and validated once at start; everything below the CLI takes these types. */

export const GEAR_SIZES = ['small', 'small.highcpu', 'medium', 'large'] as const;
export type GearSize = (typeof GEAR_SIZES)[number];

export interface AwsConfig {
  /** Both set, or neither (then the AWS default credential chain applies). */
  readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Undefined: the SDK's own resolution (AWS_REGION, profile), else us-east-1. */
  readonly region: string | undefined;
  readonly endpoint: string | undefined;
  readonly forcePathStyle: boolean;
  /** Key prefix in every bucket, '' or ending in '/'. */
  readonly prefix: string;
  readonly acl: 'public-read' | 'none';
  readonly maxConcurrency: number;
  /** Multipart part size in bytes (`part_size`, given in MiB); undefined: the store's default. */
  readonly partSize: number | undefined;
  /**
   * `checksums`: when the AWS SDK adds its own request checksums (CRC32 by default since
   * v3.729, which several S3-compatible services refuse). Undefined: when_supported for AWS,
   * when_required for a custom endpoint.
   */
  readonly checksums: ChecksumMode | undefined;
  /** `request_timeout`: how long an S3 connection may stay silent (connecting, awaiting the answer, mid-transfer) before the attempt is given up and retried. */
  readonly requestTimeoutMs: number;
}

/** Bounds on every http(s) download (archives, base-image metadata URLs): `[pulp] connect_timeout`, `stall_timeout`. */
export interface DownloadTimeouts {
  /** From the request to the response headers. */
  readonly connectMs: number;
  /** Longest pause between two pieces of a response body. */
  readonly stallMs: number;
}

export const CHECKSUM_MODES = ['when_supported', 'when_required'] as const;
export type ChecksumMode = (typeof CHECKSUM_MODES)[number];

export interface OpenShiftConfig {
  readonly serverUrl: string | undefined;
  /** Crane source repository the app is created from. */
  readonly appGitUrl: string | undefined;
  readonly cartridge: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly authToken: string | undefined;
}

export type StorageConfig =
  | { readonly kind: 's3'; readonly bucket: string; readonly publicUrl: string | undefined }
  | { readonly kind: 'file'; readonly dir: string; readonly publicUrl: string | undefined };

export type PlatformConfig =
  | {
      readonly kind: 'openshift';
      readonly domain: string;
      readonly app: string;
      readonly scale: boolean;
      readonly gearSize: GearSize;
    }
  | { readonly kind: 'git'; readonly remote: string }
  /** No Crane app: a stock registry reads the store (layout = distribution). */
  | { readonly kind: 'none' };

/**
 * How an ISV's images are laid out in its store: for Crane (its v1 and v2 layouts, with
 * redirect files deployed to the app), or as Docker Distribution's storage, which a stock
 * registry started on the store serves.
 */
export type LayoutConfig =
  | { readonly kind: 'crane' }
  | {
      readonly kind: 'distribution';
      /** The registry driver's rootdirectory under the store's root ([aws] prefix): "" or "a/b/". */
      readonly rootDirectory: string;
      /** skip: masked layers stay with their host (foreign layers); upload: stored like the ISV's own. */
      readonly maskedLayers: 'skip' | 'upload';
    };

export interface IsvConfig {
  readonly name: string;
  readonly storage: StorageConfig;
  readonly platform: PlatformConfig;
  /** Public URL of the registry (for `docker pull` references and checks). */
  readonly registryUrl: string | undefined;
  readonly craneDataDir: string;
  /** `access`: public (clients read the public URL) or private (raas serve hands out pre-signed URLs; push sets no ACL). */
  readonly access: 'public' | 'private';
  /** `presign_lifetime` (minutes), in seconds: how long a pre-signed blob URL of raas serve stays valid. */
  readonly presignSeconds: number;
  readonly layout: LayoutConfig;
}

export interface Config {
  /** Absolute path of the raas.cfg that was read. */
  readonly file: string;
  /** The directory raas.cfg is in; relative paths in it resolve from here. */
  readonly dir: string;
  readonly redhat: {
    /** Image ids and `sha256:` digests never uploaded. */
    readonly maskLayers: readonly string[];
    /** Base-image Crane metadata: directories (absolute) and http(s) URLs. */
    readonly metadata: readonly string[];
  };
  readonly pulp: { readonly exportUrl: string | undefined; readonly timeouts: DownloadTimeouts };
  readonly openshift: OpenShiftConfig;
  readonly aws: AwsConfig;
  readonly isvs: ReadonlyMap<string, IsvConfig>;
}
