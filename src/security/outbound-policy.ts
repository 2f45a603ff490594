// Where integrations and sources may connect. A destination is judged by its
// host name and by every address that name resolves to, so a DNS name pointing
// at a cloud metadata endpoint is refused as the address itself would be.
// By default link-local, metadata and unspecified addresses are refused, private
// ranges are refused unless allowed, and loopback is allowed (local receivers,
// tests, sidecars); an allow and a deny list narrow it further.
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { describeIssues } from '../validation/field-issues.js';
import { OutboundRefusedError } from './outbound-refused-error.js';

const NAME = /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const CIDR = /^([0-9a-f.:]+)\/(\d{1,3})$/;

/** `[address, prefix]` for an IP or a CIDR range, undefined for anything else. */
function rangeOf(entry: string): [string, number] | undefined {
  const family = isIP(entry);
  if (family !== 0) return [entry, family === 4 ? 32 : 128];
  const cidr = CIDR.exec(entry);
  if (!cidr) return undefined;
  const [, address = '', bits = ''] = cidr;
  const max = isIP(address) === 4 ? 32 : isIP(address) === 6 ? 128 : -1;
  return Number(bits) <= max ? [address, Number(bits)] : undefined;
}

const hostEntry = z
  .string()
  .trim()
  .toLowerCase()
  .transform((entry) => entry.replace(/\.$/, ''))
  .refine((entry) => rangeOf(entry) !== undefined || NAME.test(entry), 'must be a host name, *.domain, an IP address or a CIDR range');

export const outboundSchema = z.strictObject({
  /**
   * When set, only these destinations are contacted: host names (`api.example.com`, or
   * `*.example.com` for its subdomains) matched against the URL's host, IP addresses and CIDR
   * ranges (`203.0.113.0/24`) matched against every address the host resolves to. A listed
   * destination is trusted with a private address; only an address or range listed here opens a
   * link-local or metadata address (or loopback, when `allowLoopback` is false).
   * @defaultValue any destination the other rules allow
   */
  allowHosts: z.array(hostEntry).optional(),
  /** Never contacted, whatever else says: host names, `*.domain`, IP addresses, CIDR ranges. @defaultValue none */
  denyHosts: z.array(hostEntry).optional(),
  /**
   * Private ranges: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 (shared address
   * space) and fc00::/7. Refused unless this is true or `allowHosts` lists the destination.
   * @defaultValue false
   */
  allowPrivate: z.boolean().optional(),
  /** Loopback (127.0.0.0/8, ::1): local receivers and sidecars. @defaultValue true */
  allowLoopback: z.boolean().optional(),
});

/** The `outbound` section of the hub config, or of one sink or source. */
export type OutboundOptions = z.input<typeof outboundSchema>;

/** Resolves a name to all its addresses, as `dns.lookup` with `all: true` does. */
export type Resolver = (hostname: string, options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

export interface OutboundPolicy {
  /** Why `host` may not be reached at `address` (an IP), or undefined when it may. */
  refusal(host: string, address: string): OutboundRefusedError | undefined;
  /** A `net.connect` lookup: resolves, then fails with the refusal if any address is refused. */
  readonly lookup: LookupFunction;
}

export interface OutboundDeps {
  /** @defaultValue `dns.lookup` */
  resolve?: Resolver;
}

const blockList = (ranges: Iterable<[string, number]>) => {
  const list = new BlockList();
  for (const [address, prefix] of ranges) list.addSubnet(address, prefix, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  return list;
};
// An IPv4 rule also matches the IPv4-mapped IPv6 form (::ffff:169.254.169.254).
const has = (list: BlockList, address: string) => list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');

// AWS, GCP and Azure answer on 169.254.169.254 (GCP's metadata.google.internal resolves there);
// AWS also on fd00:ec2::254 (inside fc00::/7, so allowPrivate alone must not open it), Alibaba on 100.100.100.200.
const METADATA = blockList([['169.254.169.254', 32], ['fd00:ec2::254', 128], ['100.100.100.200', 32]]);
const LINK_LOCAL = blockList([['169.254.0.0', 16], ['fe80::', 10]]);
const UNSPECIFIED = blockList([['0.0.0.0', 8], ['::', 128]]);
const LOOPBACK = blockList([['127.0.0.0', 8], ['::1', 128]]);
const PRIVATE = blockList([['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10], ['fc00::', 7]]);

/** Host names and ranges of one list. */
class HostList {
  readonly #names = new Set<string>();
  readonly #suffixes: string[] = [];
  readonly ranges: BlockList;

  constructor(entries: readonly string[]) {
    const ranges: [string, number][] = [];
    for (const entry of entries) {
      const range = rangeOf(entry);
      if (range) ranges.push(range);
      else if (entry.startsWith('*.')) this.#suffixes.push(entry.slice(1));
      else this.#names.add(entry);
    }
    this.ranges = blockList(ranges);
  }

  names(host: string): boolean {
    const name = host.toLowerCase().replace(/\.$/, '');
    return this.#names.has(name) || this.#suffixes.some((suffix) => name.endsWith(suffix));
  }

  covers(address: string): boolean {
    return has(this.ranges, address);
  }
}

const defaultResolve: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/** Validates the options (throws `ConfigError`) and builds the policy. */
export function outboundPolicy(options: OutboundOptions = {}, deps: OutboundDeps = {}): OutboundPolicy {
  const parsed = outboundSchema.safeParse(options);
  if (!parsed.success) {
    const fields = describeIssues(parsed.error.issues, 'outbound').map((f) => `${f.name}: ${f.message}`);
    throw new ConfigError(`invalid outbound options: ${fields.join('; ')}`);
  }
  const o = parsed.data;
  const allow = o.allowHosts === undefined ? undefined : new HostList(o.allowHosts);
  const deny = new HostList(o.denyHosts ?? []);
  const allowPrivate = o.allowPrivate ?? false;
  const allowLoopback = o.allowLoopback ?? true;
  const resolve = deps.resolve ?? defaultResolve;

  function reason(host: string, address: string): string | undefined {
    if (deny.names(host) || deny.covers(address)) return 'it is listed in outbound.denyHosts';
    const named = allow?.names(host) ?? false;
    const listed = allow?.covers(address) ?? false;
    if (allow && !named && !listed) return 'it is not in outbound.allowHosts';
    // Only an address or range listed in allowHosts opens these: a name can be pointed anywhere.
    if (has(METADATA, address)) return listed ? undefined : 'it is a cloud metadata address';
    if (has(LINK_LOCAL, address)) return listed ? undefined : 'it is a link-local address';
    if (has(UNSPECIFIED, address)) return listed ? undefined : 'it is an unspecified address';
    if (has(LOOPBACK, address)) return allowLoopback || listed ? undefined : 'it is a loopback address and outbound.allowLoopback is false';
    if (has(PRIVATE, address)) return allowPrivate || named || listed ? undefined : 'it is a private address; set outbound.allowPrivate or list the host in outbound.allowHosts';
    return undefined;
  }

  const refusal = (host: string, address: string) => {
    const why = reason(host, address);
    return why === undefined ? undefined : new OutboundRefusedError(host, address, why);
  };

  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      // Every address is checked, not only the one connected to: the connection may try them all.
      for (const { address } of addresses) {
        const refused = refusal(hostname, address);
        if (refused) return callback(refused, '');
      }
      if (lookupOptions.all) return callback(null, addresses);
      const [first] = addresses;
      if (first === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };

  return { refusal, lookup };
}

/** The policy of a sink or source configured with nothing: the defaults above. */
export const defaultOutboundPolicy: OutboundPolicy = outboundPolicy();
