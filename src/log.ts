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

/**
 * Values shorter than this cannot be masked: masking "ab" would garble every word holding
 * it, and leave the value guessable from what was masked. Callers refuse such secrets.
 */
export const MIN_SECRET_LENGTH = 4;

/**
 * Remember a secret value so that it is masked wherever it would be printed or logged.
 * Returns false for a value too short to be masked (see MIN_SECRET_LENGTH): the caller
 * must not use it where it could be printed.
 */
export function registerSecret(value: string | undefined): boolean {
  if (!value) return true;
  if (value.length < MIN_SECRET_LENGTH) return false;
  secrets.add(value);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) secrets.add(encoded);
  return true;
}

const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
// Outside URLs too: signing parameters quoted in an SDK's or a server's error text.
const SIGNED_QUERY = /\b(X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId|token|access_token)=[^&\s"']+/gi;
/**
 * A URL's query: any parameter may carry a credential (Azure SAS `sig`, GCS, CDN tokens,
 * private download links), so every value is masked and only the names are kept.
 */
const URL_QUERY = /\b([a-z][a-z0-9+.-]*:\/\/[^\s?#"'<>\\]*\?)([^\s#"'<>\\]*)/gi;
const maskQuery = (_: string, head: string, query: string): string =>
  head + query.replace(/[^&;]+/g, (part) => {
    const eq = part.indexOf('=');
    return eq < 0 ? '***' : eq === part.length - 1 ? part : `${part.slice(0, eq)}=***`;
  });

export function scrub(text: string): string {
  let out = text.replace(URL_USERINFO, '$1***@').replace(URL_QUERY, maskQuery).replace(SIGNED_QUERY, '$1=***');
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
