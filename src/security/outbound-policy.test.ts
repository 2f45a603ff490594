// The outbound policy: which addresses it refuses by default and what each
// option opens or closes; then the agent against a real server on 127.0.0.1,
// with names resolved by a stand-in DNS, so a name's addresses are what is judged.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/index.js';
import { outboundAgent } from './outbound-agent.js';
import { outboundPolicy, type OutboundOptions, type Resolver } from './outbound-policy.js';
import { OutboundRefusedError } from './outbound-refused-error.js';

const verdict = (options: OutboundOptions, host: string, address = host) => outboundPolicy(options).refusal(host, address)?.message ?? 'allowed';

describe('outbound policy by default', () => {
  it('allows public and loopback addresses', () => {
    for (const address of ['93.184.216.34', '2606:2800:220:1::1', '127.0.0.1', '127.9.9.9', '::1']) expect(verdict({}, address)).toBe('allowed');
  });

  it('refuses metadata, link-local and unspecified addresses, IPv4-mapped forms included, naming host and address', () => {
    expect(verdict({}, 'metadata.google.internal', '169.254.169.254')).toBe('refused to connect to metadata.google.internal (169.254.169.254): it is a cloud metadata address');
    expect(verdict({}, 'fd00:ec2::254')).toMatch(/metadata/);
    expect(verdict({}, '100.100.100.200')).toMatch(/metadata/);
    expect(verdict({}, '::ffff:169.254.169.254')).toMatch(/metadata/);
    expect(verdict({}, '169.254.1.1')).toMatch(/link-local/);
    expect(verdict({}, 'fe80::1')).toMatch(/link-local/);
    expect(verdict({}, '0.0.0.0')).toMatch(/unspecified/);
    expect(verdict({}, '::')).toMatch(/unspecified/);
  });

  it('refuses private ranges', () => {
    for (const address of ['10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.1.1', '100.64.0.1', 'fd12:3456::1', '::ffff:10.0.0.1']) {
      expect(verdict({}, address)).toMatch(/private address; set outbound.allowPrivate/);
    }
    expect(verdict({}, '172.32.0.1')).toBe('allowed');
  });

  it('refuses with a terminal error carrying code, host and address', () => {
    const error = outboundPolicy().refusal('box.internal', '10.0.0.7');
    expect(error).toBeInstanceOf(OutboundRefusedError);
    expect(error).toMatchObject({ code: 'OUTBOUND_REFUSED', retryable: false, details: { host: 'box.internal', address: '10.0.0.7' } });
  });
});

describe('outbound options', () => {
  it('allowPrivate opens private ranges but not the metadata address inside fc00::/7', () => {
    expect(verdict({ allowPrivate: true }, '10.1.2.3')).toBe('allowed');
    expect(verdict({ allowPrivate: true }, 'fd12::1')).toBe('allowed');
    expect(verdict({ allowPrivate: true }, 'fd00:ec2::254')).toMatch(/metadata/);
    expect(verdict({ allowPrivate: true }, '169.254.169.254')).toMatch(/metadata/);
  });

  it('allowLoopback: false refuses loopback, unless allowHosts lists the address', () => {
    expect(verdict({ allowLoopback: false }, '127.0.0.1')).toMatch(/loopback address and outbound.allowLoopback is false/);
    expect(verdict({ allowLoopback: false }, '::1')).toMatch(/loopback/);
    expect(verdict({ allowLoopback: false, allowHosts: ['127.0.0.1'] }, '127.0.0.1')).toBe('allowed');
  });

  it('allowHosts lets only its names and ranges through; a listed name may be private, never metadata', () => {
    const options = { allowHosts: ['api.example.com', '*.corp.example', '203.0.113.0/24', 'Trailing.Example.'] };
    expect(verdict(options, 'api.example.com', '93.184.216.34')).toBe('allowed');
    expect(verdict(options, 'API.example.com.', '93.184.216.34')).toBe('allowed');
    expect(verdict(options, 'trailing.example', '93.184.216.34')).toBe('allowed');
    expect(verdict(options, 'crm.corp.example', '10.0.0.5')).toBe('allowed');
    expect(verdict(options, 'corp.example', '93.184.216.34')).toMatch(/not in outbound.allowHosts/);
    expect(verdict(options, 'other.example.com', '93.184.216.34')).toMatch(/not in outbound.allowHosts/);
    expect(verdict(options, 'anything.test', '203.0.113.9')).toBe('allowed');
    expect(verdict(options, 'crm.corp.example', '169.254.169.254')).toMatch(/metadata/);
    expect(verdict(options, '127.0.0.1')).toMatch(/not in outbound.allowHosts/);
    expect(verdict({ allowHosts: ['169.254.169.254'] }, '169.254.169.254')).toBe('allowed');
  });

  it('denyHosts wins over everything, by name, suffix or range', () => {
    const options = { denyHosts: ['evil.example', '*.bad.example', '198.51.100.0/24', '::1'], allowHosts: ['evil.example', '198.51.100.7', '::1'] };
    expect(verdict(options, 'evil.example', '93.184.216.34')).toMatch(/listed in outbound.denyHosts/);
    expect(verdict(options, 'x.bad.example', '93.184.216.34')).toMatch(/denyHosts/);
    expect(verdict(options, '198.51.100.7')).toMatch(/denyHosts/);
    expect(verdict(options, '::1')).toMatch(/denyHosts/);
  });

  it('throws a ConfigError naming each bad entry', () => {
    expect(() => outboundPolicy({ allowHosts: ['ok.example', 'http://x.example/'], denyHosts: ['10.0.0.0/33'] })).toThrow(ConfigError);
    expect(() => outboundPolicy({ allowHosts: ['http://x.example/'] })).toThrow(/outbound.allowHosts.0: must be a host name, \*.domain, an IP address or a CIDR range/);
    expect(() => outboundPolicy({ denyHosts: ['10.0.0.0/33'] })).toThrow(/outbound.denyHosts.0/);
    expect(() => outboundPolicy({ allowPrivat: true } as OutboundOptions)).toThrow(/allowPrivat/);
  });
});

describe('outboundAgent against a real server', () => {
  let server: Server;
  let port: number;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      hits += 1;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A stand-in DNS: each name answers the addresses given. */
  const dns = (names: Record<string, string[]>): Resolver => (hostname, _options, callback) => {
    const addresses = names[hostname];
    if (addresses === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };

  async function get(url: string, options: OutboundOptions, names: Record<string, string[]> = {}): Promise<string> {
    const policy = outboundPolicy(options, { resolve: dns(names) });
    const agent = outboundAgent(() => policy);
    try {
      const response = await request(url, { dispatcher: agent });
      return `${response.statusCode} ${await response.body.text()}`;
    } catch (error) {
      return error instanceof OutboundRefusedError ? error.message : `other: ${String(error)}`;
    } finally {
      await agent.close();
    }
  }

  it('connects to an allowed name through the policy\'s resolver', async () => {
    expect(await get(`http://receiver.test:${port}/`, {}, { 'receiver.test': ['127.0.0.1'] })).toBe('200 ok');
  });

  it('refuses a name when any address it resolves to is refused, before connecting', async () => {
    const before = hits;
    expect(await get(`http://mixed.test:${port}/`, {}, { 'mixed.test': ['127.0.0.1', '169.254.169.254'] })).toBe(
      'refused to connect to mixed.test (169.254.169.254): it is a cloud metadata address',
    );
    expect(await get(`http://inside.test:${port}/`, {}, { 'inside.test': ['10.0.0.8'] })).toMatch(/^refused to connect to inside.test \(10.0.0.8\): it is a private address/);
    expect(hits).toBe(before);
  });

  it('refuses an IP literal, which is never looked up', async () => {
    const before = hits;
    expect(await get(`http://127.0.0.1:${port}/`, { allowLoopback: false })).toBe('refused to connect to 127.0.0.1: it is a loopback address and outbound.allowLoopback is false');
    expect(await get(`http://[::1]:${port}/`, { allowLoopback: false })).toMatch(/^refused to connect to ::1: it is a loopback address/);
    expect(hits).toBe(before);
    expect(await get(`http://127.0.0.1:${port}/`, {})).toBe('200 ok');
  });

  it('judges what the system resolver answers for localhost', async () => {
    const before = hits;
    const policy = outboundPolicy({ allowLoopback: false });
    const agent = outboundAgent(() => policy);
    await expect(request(`http://localhost:${port}/`, { dispatcher: agent })).rejects.toThrow(/^refused to connect to localhost \((127.0.0.1|::1)\): it is a loopback address/);
    await agent.close();
    expect(hits).toBe(before);
  });

  it('reads the policy at each new connection', async () => {
    let policy = outboundPolicy({ allowLoopback: false });
    const agent = outboundAgent(() => policy, { pipelining: 0 });
    await expect(request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).rejects.toBeInstanceOf(OutboundRefusedError);
    policy = outboundPolicy();
    expect((await request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).statusCode).toBe(200);
    await agent.close();
  });
});
