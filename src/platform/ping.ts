import { setTimeout as sleep } from 'node:timers/promises';
import { scrub } from '../log.ts';

/**
 * Whether a registry answers: Crane (and the Docker v1 registry) answer `GET /v1/_ping`
 * with `true`; a registry serving the v2 API answers `GET /v2/` with 200, or 401 when it
 * wants credentials, and the header `Docker-Distribution-API-Version: registry/2.0`. A
 * fresh deployment takes a while to answer, so the check is repeated; a registry that is
 * down is a result for the caller to judge, not an exception.
 */
export interface RegistryCheck {
  readonly url: string;
  /** `/v1/_ping` answered `true`. */
  readonly v1: boolean;
  /** `/v2/` answered as a registry; undefined when the server does not serve it (404). */
  readonly v2: boolean | undefined;
  /** Rounds of requests made. */
  readonly attempts: number;
  /** What the last round saw, for messages. */
  readonly detail: string;
}

export interface CheckOptions {
  /** Rounds before giving up. Default 1. */
  readonly attempts?: number;
  /** Pause between rounds. Default 2000. */
  readonly delayMs?: number;
  /** Per request. Default 10000. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
}

interface Answer {
  readonly status?: number;
  readonly body?: string;
  readonly apiVersion?: string | null;
  readonly error?: string;
}

async function get(url: URL, timeoutMs: number, signal: AbortSignal | undefined): Promise<Answer> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, { redirect: 'manual', signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    const body = (await response.text()).slice(0, 200);
    return { status: response.status, body, apiVersion: response.headers.get('docker-distribution-api-version') };
  } catch (error) {
    if (timeout.aborted) return { error: `no answer within ${timeoutMs} ms` };
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? (error as Error).message };
  }
}

const describe = (answer: Answer) => answer.error ?? `HTTP ${answer.status} ${JSON.stringify(answer.body)}`;

function judgeV1(answer: Answer): { ok: boolean; detail: string } {
  let ok = false;
  try {
    ok = answer.status === 200 && JSON.parse(answer.body ?? '') === true;
  } catch {
    // not JSON: not a registry's answer
  }
  return { ok, detail: `/v1/_ping: ${ok ? 'true' : describe(answer)}` };
}

function judgeV2(answer: Answer): { ok: boolean | undefined; detail: string } {
  if (answer.status === 404) return { ok: undefined, detail: '/v2/: not served' };
  const ok = (answer.status === 200 || answer.status === 401) && answer.apiVersion === 'registry/2.0';
  return { ok, detail: `/v2/: ${ok ? `HTTP ${answer.status}` : describe(answer)}` };
}

export async function checkRegistry(url: string, options: CheckOptions = {}): Promise<RegistryCheck> {
  const { attempts = 1, delayMs = 2000, timeoutMs = 10_000, signal } = options;
  const base = url.endsWith('/') ? url : `${url}/`;
  for (let attempt = 1; ; attempt++) {
    const [v1, v2] = await Promise.all([
      get(new URL('v1/_ping', base), timeoutMs, signal).then(judgeV1),
      get(new URL('v2/', base), timeoutMs, signal).then(judgeV2),
    ]);
    const result = { url, v1: v1.ok, v2: v2.ok, attempts: attempt, detail: scrub(`${v1.detail}; ${v2.detail}`) };
    if (v1.ok || v2.ok || attempt >= attempts) return result;
    try {
      await sleep(delayMs, undefined, { signal });
    } catch {
      return result; // aborted: report what was seen
    }
  }
}
