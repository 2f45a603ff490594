// Generated Pix transaction logs, as the payments platform writes them: one
// JSON object per line, cash-outs among other transaction types.
import { appendFileSync } from 'node:fs';

export interface PixLine {
  timestamp: string;
  eventId: string;
  type: string;
  account: string;
  amountCents: number;
  transactionId: string;
}

let counter = 0;

export function pixLine(account: string, amountCents: number, type = 'pix.cashout'): PixLine {
  counter += 1;
  const n = `${process.pid}-${counter}`;
  return { timestamp: new Date(1_790_000_000_000 + counter * 1000).toISOString(), eventId: `evt-${n}`, type, account, amountCents, transactionId: `E${n}` };
}

export function appendPixLog(path: string, lines: readonly PixLine[]): void {
  appendFileSync(path, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
}

/** Count and total per account of the cash-outs among `lines`. */
export function expectedTotals(lines: readonly PixLine[], accounts?: ReadonlySet<string>): Map<string, { count: number; totalCents: number }> {
  const totals = new Map<string, { count: number; totalCents: number }>();
  for (const line of lines) {
    if (line.type !== 'pix.cashout' || (accounts && !accounts.has(line.account))) continue;
    const t = totals.get(line.account) ?? { count: 0, totalCents: 0 };
    t.count += 1;
    t.totalCents += line.amountCents;
    totals.set(line.account, t);
  }
  return totals;
}
