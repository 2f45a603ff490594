// The events the benchmarks send: `crm:contact:updated` envelopes of the
// customer-sync example, each with a fresh id.
let sequence = 0;
const run = Date.now().toString(36);

export function contactEnvelope(documentNumber: string, name = `n${sequence}`) {
  sequence += 1;
  return {
    name: 'crm:contact:updated',
    version: 1,
    id: `b-${run}-${sequence}`,
    flowId: `bf-${sequence}`,
    payload: { documentType: 'CC', documentNumber, name, email: `c${documentNumber}@example.com` },
    identity: {},
    auth: {},
    metadata: {},
  };
}
