// dispatchMany, the bulk half of the server: one answer per envelope in order,
// runs of a batch-capable handler in one call, handlers called in the order
// the envelopes came.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dispatch, dispatchMany, type Grant } from './dispatch.js';
import { EventError } from './event-error.js';
import { HandlerRegistry, respond, type HandlerRequest } from './registry.js';

const log = pino({ level: 'silent' });
const env = (name: string, id: string, payload: unknown = {}) => ({ name, version: 1, id, flowId: `f-${id}`, payload });

/** Handlers that note every call, in the order they were made. */
function recordingRegistry() {
  const calls: string[] = [];
  const registry = new HandlerRegistry()
    .register({
      name: 'test:many',
      version: 1,
      payload: z.object({ n: z.number() }),
      handle: (request) => {
        calls.push(`one:${request.id}`);
        return respond({ n: request.payload.n });
      },
      handleMany: async (requests: Array<HandlerRequest<{ n: number }>>) => {
        calls.push(`many:${requests.map((r) => r.id).join(',')}`);
        return requests.map((r) => (r.payload.n < 0 ? new EventError('badRequest', 'NEGATIVE', { n: r.payload.n }) : respond({ n: r.payload.n, batch: requests.length })));
      },
    })
    .register({
      name: 'test:one',
      version: 1,
      payload: z.unknown(),
      handle: (request) => {
        calls.push(`one:${request.id}`);
        return respond('single');
      },
    });
  return { calls, registry };
}

describe('dispatchMany', () => {
  it('answers each envelope in order, and hands a run of one handler to its handleMany in one call', async () => {
    const { calls, registry } = recordingRegistry();
    const answers = await dispatchMany(
      [env('test:many', 'a', { n: 1 }), env('test:many', 'b', { n: -2 }), { version: 1 }, env('test:many', 'c', { n: 3 }), env('test:one', 'd'), env('test:many', 'e', { n: 5 })],
      'key',
      { registry, authenticate: (token) => token === 'key', log },
    );
    expect(answers.map((a) => a.name)).toEqual(['test:many:response', 'test:many:badRequest', 'badProtocol', 'test:many:response', 'test:one:response', 'test:many:response']);
    expect(answers.map((a) => a.payload)).toEqual([
      { n: 1, batch: 3 },
      { code: 'NEGATIVE', parameters: { n: -2 } },
      expect.objectContaining({ code: 'INVALID_COMMUNICATION_PROTOCOL' }),
      { n: 3, batch: 3 },
      'single',
      { n: 5, batch: 1 },
    ]);
    // An invalid envelope does not break a run; another handler does, so calls keep the envelopes' order.
    expect(calls).toEqual(['many:a,b,c', 'one:d', 'many:e']);
  });

  it('answers every request of a handleMany that throws with :error, as handle throwing would', async () => {
    const registry = new HandlerRegistry().register({
      name: 'test:down',
      version: 1,
      payload: z.unknown(),
      handle: () => {
        throw new Error('store is down');
      },
      handleMany: async () => {
        throw new Error('store is down');
      },
    });
    const options = { registry, authenticate: () => true, log };
    const bulk = await dispatchMany([env('test:down', 'a'), env('test:down', 'b')], undefined, options);
    const one = await dispatch(env('test:down', 'c'), undefined, options);
    expect(bulk.map((a) => [a.name, a.id, a.payload])).toEqual([
      ['test:down:error', 'a', { code: 'UNHANDLED_ERROR', parameters: {} }],
      ['test:down:error', 'b', { code: 'UNHANDLED_ERROR', parameters: {} }],
    ]);
    expect(one.payload).toEqual(bulk[0]?.payload);
  });

  it('fills identity, auth and metadata sent as null or left out with empty objects', async () => {
    const seen: Array<HandlerRequest<unknown>> = [];
    const registry = new HandlerRegistry().register({
      name: 'test:echo',
      version: 1,
      payload: z.unknown(),
      handle: (request) => {
        seen.push(request);
        return respond(null);
      },
    });
    await dispatchMany([{ ...env('test:echo', 'a'), identity: null, auth: null, metadata: null }, env('test:echo', 'b')], undefined, { registry, authenticate: () => true, log });
    expect(seen.map((r) => [r.identity, r.auth, r.metadata])).toEqual([
      [{}, {}, {}],
      [{}, {}, {}],
    ]);
  });

  it('asks for each distinct credential once, and answers by its grant: forbidden names, refusals with their reason', async () => {
    const { registry } = recordingRegistry();
    const asked: Array<string | undefined> = [];
    const grants: Record<string, Grant> = { limited: { allows: (name) => name === 'test:one' }, unsigned: { refused: 'sign it' } };
    const authenticate = async (token: string | undefined) => {
      asked.push(token);
      return token === undefined ? false : (grants[token] ?? false);
    };
    const withToken = (name: string, id: string, token: string) => ({ ...env(name, id), auth: { token } });
    const answers = await dispatchMany(
      [withToken('test:one', 'a', 'limited'), withToken('test:many', 'b', 'limited'), withToken('test:one', 'c', 'unsigned'), env('test:one', 'd'), withToken('test:one', 'e', 'limited')],
      undefined,
      { registry, authenticate, log },
    );
    expect(answers.map((a) => [a.name, (a.payload as { parameters?: unknown }).parameters ?? a.payload])).toEqual([
      ['test:one:response', 'single'],
      ['test:many:forbidden', { message: 'this key may not send test:many' }],
      ['test:one:unauthorized', { message: 'sign it' }],
      ['test:one:unauthorized', { message: expect.stringMatching(/missing credentials/) }],
      ['test:one:response', 'single'],
    ]);
    expect(asked.sort()).toEqual([undefined, 'limited', 'unsigned'].sort());
  });
});
