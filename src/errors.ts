/**
 * Every failure a user can act on is a RaasError: what went wrong, where (file, section,
 * key, archive entry, bucket/key), and how to fix it. The exit code tells scripts whether
 * the input was wrong (2) or the operation failed against a working input (1).
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorDetail {
  /** Where the problem is: "raas.cfg [acme] s3_bucket", "archive entry web/abc/json", "s3://bucket/key". */
  where?: string;
  /** What the user can do about it. */
  fix?: string;
  cause?: unknown;
}

export class RaasError extends Error {
  readonly exitCode: ExitCode;
  readonly where: string | undefined;
  readonly fix: string | undefined;

  constructor(message: string, exitCode: ExitCode, detail: ErrorDetail = {}) {
    super(message, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.where = detail.where;
    this.fix = detail.fix;
  }

  /** One line for humans: "where: message (fix)". */
  describe(): string {
    const head = this.where ? `${this.where}: ${this.message}` : this.message;
    return this.fix ? `${head}\n  fix: ${this.fix}` : head;
  }
}

/** Bad command line, configuration or names: nothing was touched. Exit 2. */
export class ConfigError extends RaasError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, ExitCode.usage, detail);
  }
}

/** The archive (or other outside input) is malformed or hostile: nothing was touched. Exit 2. */
export class InputError extends RaasError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, ExitCode.usage, detail);
  }
}

/** A step against storage, git or the platform failed. Exit 1. */
export class OperationError extends RaasError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, ExitCode.failed, detail);
  }
}

/** Bytes did not match the digest or checksum they were published under. Exit 1. */
export class IntegrityError extends OperationError {}
