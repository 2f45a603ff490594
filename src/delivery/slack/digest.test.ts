import { describe, expect, it } from 'vitest';
import { digestMessage, foldDigest, windowOf, windowStart, type DigestMessageOptions } from './digest.js';

const FIVE_MINUTES = 5 * 60_000;
const at = (h: number, m: number, s = 0, ms = 0) => Date.UTC(2024, 4, 1, h, m, s, ms);

describe('windowStart / windowOf', () => {
  it('aligns windows to the epoch: 5-minute windows start at :00, :05, …', () => {
    expect(windowStart(at(12, 7, 31, 250), FIVE_MINUTES)).toBe(at(12, 5));
    expect(windowStart(at(12, 4, 59, 999), FIVE_MINUTES)).toBe(at(12, 0));
    expect(windowStart(at(12, 59, 59, 999), 3_600_000)).toBe(at(12, 0));
  });

  it('puts a time on a boundary in the window it starts', () => {
    expect(windowStart(at(12, 5), FIVE_MINUTES)).toBe(at(12, 5));
    expect(windowOf(at(12, 5), FIVE_MINUTES)).toEqual({ start: at(12, 5), end: at(12, 10) });
  });

  it('aligns times before 1970 downwards too', () => {
    expect(windowStart(-1, FIVE_MINUTES)).toBe(-FIVE_MINUTES);
    expect(windowOf(-FIVE_MINUTES, FIVE_MINUTES)).toEqual({ start: -FIVE_MINUTES, end: 0 });
  });

  it('rejects a window that is not a positive whole number of ms', () => {
    expect(() => windowStart(0, 0)).toThrow('windowMs must be a positive integer, got 0');
    expect(() => windowStart(0, 1.5)).toThrow(RangeError);
    expect(() => windowStart(Number.NaN, 1000)).toThrow(/finite epoch time/);
  });
});

describe('foldDigest', () => {
  const cashOuts = [
    { account: 'conta-b', amount: 500 },
    { account: 'conta-a', amount: 123456 },
    { account: 'conta-b', amount: 5 },
    { account: 'conta-a', amount: 44 },
    { account: 'conta-c', amount: 0 },
  ];

  it('counts and totals each group, sorted by group', () => {
    expect(foldDigest(cashOuts, (e) => e.account, (e) => e.amount)).toEqual([
      { group: 'conta-a', count: 2, total: 123500 },
      { group: 'conta-b', count: 2, total: 505 },
      { group: 'conta-c', count: 1, total: 0 },
    ]);
  });

  it('totals 0 without an amount', () => {
    expect(foldDigest(cashOuts, (e) => e.account)).toEqual([
      { group: 'conta-a', count: 2, total: 0 },
      { group: 'conta-b', count: 2, total: 0 },
      { group: 'conta-c', count: 1, total: 0 },
    ]);
  });

  it('sorts by code unit, not by the machine locale', () => {
    expect(foldDigest(['b', 'a', 'B', 'á'], (s) => s).map((g) => g.group)).toEqual(['B', 'a', 'b', 'á']);
  });

  it('folds nothing into nothing', () => {
    expect(foldDigest([], String)).toEqual([]);
  });

  it('rejects amounts that are not whole minor units', () => {
    expect(() => foldDigest([1.5], () => 'g', (n) => n)).toThrow(/must be an integer in minor units/);
  });
});

describe('digestMessage', () => {
  const base: DigestMessageOptions = {
    title: 'Relatório de Eventos Pix CashOut',
    windowStart: at(12, 5),
    windowEnd: at(12, 10),
    rows: [
      { label: 'conta-a', count: 2, totalCents: 123456 },
      { label: '<!channel> & co', count: 1, totalCents: 5 },
    ],
  };

  it('builds a header, one section per row and the window in ISO (pt-BR)', () => {
    expect(digestMessage({ ...base, footer: 'Informação gerada automaticamente pelo Confluo.' })).toEqual({
      text: 'Relatório de Eventos Pix CashOut: 3 eventos · R$ 1.234,61',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Relatório de Eventos Pix CashOut' } },
        { type: 'section', text: { type: 'mrkdwn', text: '*conta-a*: 2 eventos · R$ 1.234,56' } },
        { type: 'section', text: { type: 'mrkdwn', text: '*&lt;!channel&gt; &amp; co*: 1 evento · R$ 0,05' } },
        {
          type: 'context',
          elements: [
            { type: 'mrkdwn', text: '2024-05-01T12:05:00.000Z – 2024-05-01T12:10:00.000Z' },
            { type: 'mrkdwn', text: 'Informação gerada automaticamente pelo Confluo.' },
          ],
        },
      ],
    });
  });

  it('leaves the footer out of the context line when there is none', () => {
    const message = digestMessage(base)!;
    expect(message.blocks.at(-1)).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: '2024-05-01T12:05:00.000Z – 2024-05-01T12:10:00.000Z' }] });
  });

  it('speaks English and formats dollars for en-US', () => {
    const message = digestMessage({ ...base, locale: 'en-US', rows: [{ label: 'acct', count: 1234, totalCents: 123456 }] })!;
    expect(message.text).toBe('Relatório de Eventos Pix CashOut: 1,234 events · $1,234.56');
    expect(message.blocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '*acct*: 1,234 events · $1,234.56' } });
  });

  it('takes the count words from labels', () => {
    const message = digestMessage({ ...base, labels: { one: 'saque', other: 'saques' } })!;
    expect(message.blocks.slice(1, 3).map((b) => (b.type === 'section' && 'text' in b ? b.text.text : ''))).toEqual([
      '*conta-a*: 2 saques · R$ 1.234,56',
      '*&lt;!channel&gt; &amp; co*: 1 saque · R$ 0,05',
    ]);
  });

  it('sends nothing when nothing happened', () => {
    expect(digestMessage({ ...base, rows: [] })).toBeUndefined();
  });

  it('gathers rows past the 50-block limit into one "outros" row', () => {
    const rows = Array.from({ length: 60 }, (_, i) => ({ label: `conta-${String(i).padStart(2, '0')}`, count: 1, totalCents: 100 }));
    const message = digestMessage({ ...base, rows })!;
    expect(message.blocks).toHaveLength(50);
    expect(message.blocks[47]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '*conta-46*: 1 evento · R$ 1,00' } });
    expect(message.blocks[48]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '*outros (13)*: 13 eventos · R$ 13,00' } });
    expect(message.text).toBe('Relatório de Eventos Pix CashOut: 60 eventos · R$ 60,00');
  });

  it('shortens a label that would crowd the section', () => {
    const message = digestMessage({ ...base, rows: [{ label: 'x'.repeat(5000), count: 1, totalCents: 1 }] })!;
    expect(message.blocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: `*${'x'.repeat(199)}…*: 1 evento · R$ 0,01` } });
  });

  it('rejects a window that ends before it starts', () => {
    expect(() => digestMessage({ ...base, windowStart: at(12, 10), windowEnd: at(12, 5) })).toThrow(/ends .* before it starts/);
  });

  it('turns a pxStream-style fold into a message', () => {
    const window = windowOf(at(12, 7), FIVE_MINUTES);
    const events = [
      { account: 'conta-a', amount: 100000 },
      { account: 'conta-a', amount: 23456 },
    ];
    const rows = foldDigest(events, (e) => e.account, (e) => e.amount).map((g) => ({ label: g.group, count: g.count, totalCents: g.total }));
    const message = digestMessage({ title: 'Pix cash-out', windowStart: window.start, windowEnd: window.end, rows })!;
    expect(message.text).toBe('Pix cash-out: 2 eventos · R$ 1.234,56');
  });
});
