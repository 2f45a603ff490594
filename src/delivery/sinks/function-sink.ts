// Function sink: deliver by calling your own async function. Returning
// settles the delivery as a success (or by the status returned); throwing
// retries, `NonRetryableError` fails at once, `RetryAfterError` waits.
import type { DeliveryRequest } from '../../store/delivery-types.js';
import type { Sink, SinkContext, SinkResponse } from '../sink.js';

export type DeliveryFunction = (
  request: DeliveryRequest,
  context: SinkContext,
) => Promise<void | { status: number; headers?: Record<string, string | string[] | undefined>; body?: string }>;

export function functionSink(fn: DeliveryFunction, options: { name?: string } = {}): Sink {
  const url = `function:${options.name ?? (fn.name || 'anonymous')}`;
  return {
    kind: 'function',
    secrets: () => [],
    async send(request: DeliveryRequest, context: SinkContext): Promise<SinkResponse> {
      const summary = { method: 'CALL', url, requestHeaders: {} };
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${context.timeoutMs} ms`)), context.timeoutMs);
      });
      try {
        const result = await Promise.race([fn(request, context), timeout]);
        return result ? { ...summary, status: result.status, headers: result.headers, body: result.body } : { ...summary, status: 200 };
      } catch (error) {
        return { ...summary, error };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
