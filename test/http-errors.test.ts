// Errors raised by Fastify and Node before any route runs answer in the
// documented shape `{ error: { code, message } }`, while the events routes keep
// answering envelopes.
import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, API_KEY, startTestHub, type TestHub } from './support/index.js';
import { MAX_PARAM_LENGTH } from '../src/protocol/limits.js';

describe('error answers outside the events routes', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ process: false });
  });
  afterAll(async () => {
    await t?.close();
  });

  const raw = async (method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}, body?: string) => {
    const response = await request(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers }, ...(body === undefined ? {} : { body }) });
    return { status: response.statusCode, type: response.headers['content-type'], body: (await response.body.json()) as any };
  };
  const shaped = (status: number, code: string) => ({ status, body: { error: { code, message: expect.any(String) } } });

  it('unknown routes', async () => {
    expect(await raw('GET', '/nope')).toMatchObject(shaped(404, 'NOT_FOUND'));
    expect(await raw('GET', '/api/v1/nope?x=1')).toMatchObject({ ...shaped(404, 'NOT_FOUND'), body: { error: { message: 'no route GET /api/v1/nope' } } });
  });

  it('a URL that does not decode, and a URL parameter past the length limit', async () => {
    expect(await raw('GET', '/api/v1/events/%E0%A4%A')).toMatchObject(shaped(400, 'BAD_REQUEST'));
    expect(await raw('GET', `/api/v1/events/${'x'.repeat(MAX_PARAM_LENGTH + 1)}`)).toMatchObject(shaped(414, 'URL_TOO_LONG'));
  });

  it('JSON body errors, a wrong content type and a body too large on admin POSTs', async () => {
    const json = { 'content-type': 'application/json' };
    expect(await raw('POST', '/api/v1/keys', json, '{"name":')).toMatchObject(shaped(400, 'INVALID_BODY'));
    expect(await raw('POST', '/api/v1/keys', { 'content-type': 'application/xml' }, '<key/>')).toMatchObject(shaped(415, 'UNSUPPORTED_MEDIA_TYPE'));
    expect(await raw('POST', '/api/v1/keys', json, JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }))).toMatchObject(shaped(413, 'BODY_TOO_LARGE'));
  });

  it('headers larger than the HTTP parser accepts (answered before Fastify sees the request)', async () => {
    const { port } = new URL(t.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(`GET /api/v1/parked HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
      let text = '';
      socket.on('data', (d) => (text += d));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'HEADERS_TOO_LARGE', message: expect.any(String) } });
  });

  it('the events routes still answer envelopes for the same kinds of errors', async () => {
    const response = await request(`${t.url}/events`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: '{"name":' });
    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toMatchObject({ name: 'badProtocol', payload: { code: 'INVALID_COMMUNICATION_PROTOCOL' } });
  });
});
