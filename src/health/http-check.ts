// One check of an http monitor: call the URL under the hub's outbound policy
// and say what the answer means. No answer (refused, reset, timed out) is
// `down`; an answer that says it is failing (non-2xx, a JSON `status` of
// error/down/fail, an expectation not met) is `error`; a good answer slower
// than `slowMs` is `degraded`. The messages are meant for people.
import { isDeepStrictEqual } from 'node:util';
import { request, type Dispatcher } from 'undici';
import type { ObservedState } from '../store/health-types.js';
import { OutboundRefusedError } from '../security/outbound-refused-error.js';
import type { HttpExpectation, HttpMonitor } from './monitor.js';

export interface CheckResult {
  observed: ObservedState;
  message: string;
  details: { status?: number; durationMs: number };
}

/** Bytes of body read at most: enough for any health answer; the rest is dropped with the connection. */
export const BODY_LIMIT = 64 * 1024;

/** `850 ms`, `2.3 s`, `1 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) {
    const seconds = Math.round(ms / 100) / 10;
    return `${Number.isInteger(seconds) ? seconds.toFixed(0) : seconds.toFixed(1)} s`;
  }
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 360_000) / 10} h`;
}

class Timeout extends Error {}

/** Reads at most BODY_LIMIT bytes of the body as text, then stops reading. */
async function boundedText(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const bytes = chunk as Buffer;
    chunks.push(bytes);
    size += bytes.length;
    if (size >= BODY_LIMIT) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, BODY_LIMIT).toString('utf8');
}

/** Why there was no answer, in words. */
function noAnswer(error: unknown, url: string): string {
  if (error instanceof OutboundRefusedError) return `not called: ${error.message}`;
  const code = (error as { code?: string } | null)?.code ?? (error as { cause?: { code?: string } } | null)?.cause?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found: ${new URL(url).hostname}`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection closed without an answer';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/** The value at a dotted path (`a.b.0.c`), or undefined. */
function at(value: unknown, path: string): unknown {
  let current = value;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

const FAILING = new Set(['error', 'down', 'fail']);

/** Why the body says the service is failing, or undefined when it does not. */
function bodyVerdict(text: string, expect: HttpExpectation | undefined): string | undefined {
  let json: unknown;
  try {
    json = text.trimStart().startsWith('{') || text.trimStart().startsWith('[') ? JSON.parse(text) : undefined;
  } catch {
    json = undefined; // not JSON (or cut at BODY_LIMIT): only text conditions apply
  }
  const status = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as { status?: unknown }).status : undefined;
  if (typeof status === 'string' && FAILING.has(status.toLowerCase())) return `body says status ${JSON.stringify(status)}`;
  if (!expect) return undefined;
  if ('json' in expect) {
    if (json === undefined) return `body is not JSON: cannot read ${expect.json.path}`;
    const found = at(json, expect.json.path);
    return isDeepStrictEqual(found, expect.json.equals) ? undefined : `body's ${expect.json.path} is ${JSON.stringify(found) ?? 'missing'}, expected ${JSON.stringify(expect.json.equals)}`;
  }
  if ('contains' in expect) return text.includes(expect.contains) ? undefined : `body does not contain ${JSON.stringify(expect.contains)}`;
  return text.includes(expect.notContains) ? `body contains ${JSON.stringify(expect.notContains)}` : undefined;
}

/** Calls the monitor's URL once through `dispatcher` (the hub's outbound agent) and judges the answer. */
export async function checkHttp(monitor: HttpMonitor, dispatcher: Dispatcher, now: () => number = performance.now.bind(performance)): Promise<CheckResult> {
  const started = now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Timeout()), monitor.timeoutMs);
  let status: number;
  let text = '';
  try {
    const answer = await request(monitor.url, {
      method: monitor.method,
      headers: { 'user-agent': 'Confluo monitor', ...monitor.headers },
      dispatcher,
      signal: controller.signal,
    });
    status = answer.statusCode;
    if (monitor.method === 'HEAD') await answer.body.dump();
    else text = await boundedText(answer.body);
  } catch (error) {
    const durationMs = Math.round(now() - started);
    const message = controller.signal.aborted ? `no answer within ${monitor.timeoutMs} ms` : noAnswer(error, monitor.url);
    return { observed: 'down', message, details: { durationMs } };
  } finally {
    clearTimeout(timer);
  }
  const durationMs = Math.round(now() - started);
  const details = { status, durationMs };
  if (status < 200 || status > 299) return { observed: 'error', message: `HTTP ${status}`, details };
  const failing = bodyVerdict(text, monitor.expect);
  if (failing) return { observed: 'error', message: failing, details };
  if (monitor.slowMs !== undefined && durationMs > monitor.slowMs) {
    return { observed: 'degraded', message: `answered in ${formatDuration(durationMs)} (slow: over ${formatDuration(monitor.slowMs)})`, details };
  }
  return { observed: 'up', message: `HTTP ${status} in ${formatDuration(durationMs)}`, details };
}
