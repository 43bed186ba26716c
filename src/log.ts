import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Secrets are scrubbed from every serialized log line and every line raas prints, not
 * only from known keys: a password can turn up inside an error message from git or the
 * AWS SDK, or inside a URL a user typed.
 */
const secrets = new Set<string>();

/** Remember a secret value so that it is masked wherever it would be printed or logged. */
export function registerSecret(value: string | undefined): void {
  // Very short values would mask ordinary words; they are refused by config validation.
  if (value && value.length >= 4) {
    secrets.add(value);
    const encoded = encodeURIComponent(value);
    if (encoded !== value) secrets.add(encoded);
  }
}

const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
const SIGNED_QUERY = /\b(X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId|token|access_token)=[^&\s"']+/gi;

export function scrub(text: string): string {
  let out = text.replace(URL_USERINFO, '$1***@').replace(SIGNED_QUERY, '$1=***');
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join('***');
  }
  return out;
}

/** Keys whose values never reach a log, whatever they hold. */
const REDACT_PATHS = [
  'password', '*.password', 'secret_access_key', '*.secret_access_key', 'secretAccessKey', '*.secretAccessKey',
  'auth_token', '*.auth_token', 'authToken', '*.authToken', 'token', '*.token', 'credentials', '*.credentials',
  'headers.authorization', '*.headers.authorization',
];

export interface LoggerOptions {
  /** Level of what goes to the terminal. */
  readonly level: LogLevel;
  /** Where human-readable progress goes (stderr). */
  readonly terminal: NodeJS.WritableStream;
  /** A JSON-lines file that receives everything at debug level (the run's log). */
  readonly file?: string;
}

/**
 * Progress for people is the `msg` of each record, one plain line; warnings and errors
 * are labelled. Records below info are shown with their level so `-l debug` stays readable.
 */
function humanStream(out: NodeJS.WritableStream): DestinationStream {
  return {
    write(line: string) {
      let record: { level?: number; msg?: string; err?: { message?: string } };
      try {
        record = JSON.parse(line);
      } catch {
        out.write(line);
        return;
      }
      const level = pino.levels.labels[record.level ?? 30] ?? 'info';
      const text = record.msg ?? record.err?.message ?? '';
      const label = level === 'info' ? '' : `${level}: `;
      out.write(`${label}${text}\n`);
    },
  };
}

export function createLogger(options: LoggerOptions): Logger {
  const streams: pino.StreamEntry[] = [];
  if (options.level !== 'silent') streams.push({ level: options.level, stream: humanStream(options.terminal) });
  if (options.file) {
    streams.push({ level: 'debug', stream: pino.destination({ dest: options.file, sync: true, mkdir: true }) });
  }
  const levels = [options.level, ...(options.file ? ['debug'] : [])].filter((l) => l !== 'silent') as LogLevel[];
  const lowest = levels.sort((a, b) => pino.levels.values[a]! - pino.levels.values[b]!)[0] ?? 'silent';
  return pino(
    {
      level: lowest,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '***' },
      hooks: { streamWrite: scrub },
    },
    pino.multistream(streams),
  );
}

/** A logger that drops everything, for library use and unit tests. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
