// The outbound policy refused a destination: the host is denied by name, or an
// address it resolved to is link-local, a cloud metadata endpoint, private or
// outside the allowlist. Never retryable: the same request would be refused again.
import { ConfluoError } from '../errors/index.js';

export class OutboundRefusedError extends ConfluoError {
  constructor(host: string, address: string, reason: string) {
    const where = host === address ? host : `${host} (${address})`;
    super('OUTBOUND_REFUSED', `refused to connect to ${where}: ${reason}`, { retryable: false, details: { host, address } });
  }
}
