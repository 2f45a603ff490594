// How sql-poll turns PostgreSQL values into JSON-safe item fields. node-pg's
// defaults would hand out Dates cut to milliseconds (a timestamptz keeps
// microseconds), a `date` as local midnight, Buffers and interval objects.
// These parsers apply to the driver's own queries only (`types` per query), so
// a pool shared with the host application keeps its settings.
import pg from 'pg';
import type { CustomTypesConfig } from 'pg';

const OID = { bytea: 17, int8: 20, money: 790, date: 1082, timestamp: 1114, timestamptz: 1184, interval: 1186, numeric: 1700 } as const;

// PostgreSQL's ISO output (DateStyle ISO, the default). Anything else, 'infinity',
// BC dates or another DateStyle, is passed on as PostgreSQL printed it.
const TIMESTAMPTZ = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;
const TIMESTAMP = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)$/;

/** `2024-05-01 12:00:00.123456+02` → `2024-05-01T10:00:00.123456Z`: UTC, every fractional digit kept. */
export function timestamptzToIso(text: string): string {
  const m = TIMESTAMPTZ.exec(text);
  if (!m) return text;
  const [, year, month, day, hours, minutes, seconds, fraction = '', sign, offsetHours, offsetMinutes = '0', offsetSeconds = '0'] = m;
  const offset = (sign === '-' ? -1 : 1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds));
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hours), Number(minutes), Number(seconds) - offset, 0);
  // Whole seconds in, so toISOString ends in `.000Z`; the fraction goes back as printed.
  return `${date.toISOString().slice(0, -5)}${fraction}Z`;
}

/** `2024-05-01 12:00:00.5` → `2024-05-01T12:00:00.5` (no zone: a timestamp without one has none). */
export const timestampToIso = (text: string): string => text.replace(TIMESTAMP, '$1T$2');

const asText = (text: string) => text;

const parsers = new Map<number, (text: string) => unknown>([
  [OID.timestamptz, timestamptzToIso],
  [OID.timestamp, timestampToIso],
  [OID.date, asText],
  [OID.interval, asText],
  // Exact digits: a number would round past 2^53, whatever the host set globally.
  [OID.int8, asText],
  [OID.numeric, asText],
  [OID.money, asText],
  // `\x…` hex, as PostgreSQL prints bytea.
  [OID.bytea, asText],
]);

export const rowTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (format !== 'binary' && parsers.get(oid)) || pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/**
 * What the type parsers do not reach (arrays of dates or bytea, non-finite
 * floats) made JSON-safe: Dates to ISO strings, Buffers to `\x…` hex,
 * NaN and ±Infinity to text.
 */
export function jsonSafe(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, jsonSafe(v)]));
  return value === undefined ? null : String(value);
}
