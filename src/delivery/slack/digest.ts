// Digests: many events folded into one Slack message per time window ("12
// eventos · R$ 1.234,56 in the last 5 minutes"), as pxStream reports Pix
// cash-outs. Pure functions; the delivery engine decides when a window closes.
import { context, header, section, slackMessage, escapeMrkdwn, SLACK_LIMITS, type SlackMessage } from './blocks.js';
import { DEFAULT_LOCALE, formatCount, formatMoney, type MoneyOptions } from './money.js';

export interface TimeWindow {
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive: `start + windowMs`. */
  end: number;
}

export interface DigestGroup {
  group: string;
  count: number;
  total: number;
}

export interface DigestRow {
  label: string;
  count: number;
  totalCents: number | bigint;
}

/** The words of a digest; `one`/`other` follow the locale's plural rules. */
export interface DigestLabels {
  /** @defaultValue 'evento' (pt), 'event' (otherwise) */
  one: string;
  /** @defaultValue 'eventos' (pt), 'events' (otherwise) */
  other: string;
  /** The row that gathers the groups past Slack's block limit. @defaultValue 'outros' (pt), 'others' (otherwise) */
  others: string;
}

export interface DigestMessageOptions extends MoneyOptions {
  /** Plain text, at most 150 characters (Slack's header limit). */
  title: string;
  /** Epoch ms. */
  windowStart: number;
  /** Epoch ms. */
  windowEnd: number;
  /** One section each, in the order given. Labels are escaped: they usually come from data. */
  rows: DigestRow[];
  /** mrkdwn written by the operator, not escaped (it may hold links). @defaultValue none */
  footer?: string;
  /** @defaultValue Portuguese words for a `pt` locale, English otherwise */
  labels?: Partial<DigestLabels>;
}

const PORTUGUESE: DigestLabels = { one: 'evento', other: 'eventos', others: 'outros' };
const ENGLISH: DigestLabels = { one: 'event', other: 'events', others: 'others' };

/** Header and context take two of Slack's 50 blocks; the rest hold rows. */
const MAX_ROWS = SLACK_LIMITS.blocks - 2;
/** Keeps any label well inside a section's 3,000 characters. */
const MAX_LABEL_LENGTH = 200;

/** The start of the epoch-aligned window holding `at`: 5-minute windows start at :00, :05, … (UTC). */
export function windowStart(at: number, windowMs: number): number {
  if (!Number.isSafeInteger(windowMs) || windowMs <= 0) throw new RangeError(`windowMs must be a positive integer, got ${windowMs}`);
  if (!Number.isFinite(at)) throw new RangeError(`at must be a finite epoch time in ms, got ${at}`);
  // Remainder arithmetic stays exact; the double modulo keeps times before 1970 aligned downwards.
  return at - (((at % windowMs) + windowMs) % windowMs);
}

export function windowOf(at: number, windowMs: number): TimeWindow {
  const start = windowStart(at, windowMs);
  return { start, end: start + windowMs };
}

/**
 * Counts items per group and sums `amount` (integer minor units), sorted by group (code-unit
 * order, the same on every machine). Without `amount`, totals are 0.
 */
export function foldDigest<T>(items: readonly T[], by: (item: T) => string, amount?: (item: T) => number): DigestGroup[] {
  const groups = new Map<string, DigestGroup>();
  for (const item of items) {
    const key = by(item);
    const value = amount === undefined ? 0 : amount(item);
    const group = groups.get(key) ?? { group: key, count: 0, total: 0 };
    group.count += 1;
    group.total += value;
    if (!Number.isSafeInteger(value) || !Number.isSafeInteger(group.total)) {
      throw new RangeError(`foldDigest: amount for group "${key}" must be an integer in minor units and its total a safe integer, got ${value}`);
    }
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
}

/**
 * A Slack message for one window: header, one section per row, a context line with the window.
 * Past 48 rows the tail is gathered into one "outros (N)" row so the message stays within 50 blocks.
 * @returns undefined when there are no rows: nothing happened, so nothing is sent.
 */
export function digestMessage(options: DigestMessageOptions): SlackMessage | undefined {
  if (options.rows.length === 0) return undefined;
  if (options.windowEnd < options.windowStart) {
    throw new RangeError(`digest window ends (${options.windowEnd}) before it starts (${options.windowStart})`);
  }
  const locale = options.locale ?? DEFAULT_LOCALE;
  const labels = { ...(isPortuguese(locale) ? PORTUGUESE : ENGLISH), ...options.labels };
  const plural = new Intl.PluralRules(locale);
  const money = (cents: number | bigint) => formatMoney(cents, { locale, currency: options.currency });
  const events = (count: number) => `${formatCount(count, locale)} ${plural.select(count) === 'one' ? labels.one : labels.other}`;

  const rows = fitRows(options.rows, labels.others, locale);
  const lines = rows.map((row) => `*${escapeMrkdwn(truncate(row.label))}*: ${events(row.count)} · ${money(row.totalCents)}`);
  const count = rows.reduce((sum, row) => sum + row.count, 0);
  const total = rows.reduce((sum, row) => sum + BigInt(row.totalCents), 0n);
  const window = `${new Date(options.windowStart).toISOString()} – ${new Date(options.windowEnd).toISOString()}`;

  return slackMessage({
    text: `${options.title}: ${events(count)} · ${money(total)}`,
    blocks: [
      header(options.title),
      ...lines.map(section),
      options.footer === undefined ? context(window) : context(window, options.footer),
    ],
  });
}

function fitRows(rows: DigestRow[], others: string, locale: string): DigestRow[] {
  if (rows.length <= MAX_ROWS) return rows;
  const kept = rows.slice(0, MAX_ROWS - 1);
  const rest = rows.slice(MAX_ROWS - 1);
  return [
    ...kept,
    {
      label: `${others} (${formatCount(rest.length, locale)})`,
      count: rest.reduce((sum, row) => sum + row.count, 0),
      totalCents: rest.reduce((sum, row) => sum + BigInt(row.totalCents), 0n),
    },
  ];
}

function isPortuguese(locale: string): boolean {
  const [canonical] = Intl.getCanonicalLocales(locale);
  return canonical !== undefined && new Intl.Locale(canonical).language === 'pt';
}

/** Cuts by code point so an emoji is never split in half. */
function truncate(label: string): string {
  const chars = [...label];
  return chars.length <= MAX_LABEL_LENGTH ? label : `${chars.slice(0, MAX_LABEL_LENGTH - 1).join('')}…`;
}
