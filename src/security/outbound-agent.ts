// An undici Agent that connects only where an outbound policy allows. The
// check runs at connect time, after DNS: a name is resolved by the policy's
// lookup, which refuses if any address is refused; an IP literal, which
// net.connect never looks up, is checked before connecting. The refusal
// (OutboundRefusedError) is what the request rejects with.
import { isIP } from 'node:net';
import { Agent, buildConnector } from 'undici';
import type { OutboundPolicy } from './outbound-policy.js';

/** `policy` is read at each new connection, so a sink or source can be given the hub's policy after it was built. */
export function outboundAgent(policy: () => OutboundPolicy, options: Agent.Options = {}): Agent {
  const connect = buildConnector({ lookup: (hostname, lookupOptions, callback) => policy().lookup(hostname, lookupOptions, callback) });
  return new Agent({
    ...options,
    connect: (target, callback) => {
      const refused = isIP(target.hostname) === 0 ? undefined : policy().refusal(target.hostname, target.hostname);
      if (refused) callback(refused, null);
      else connect(target, callback);
    },
  });
}
