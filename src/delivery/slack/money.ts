// Money and counts as people read them in a Slack message: integer minor units
// (cents) in, the locale's own currency format out (`R$ 1.234,56`, `$1,234.56`).
// Intl's narrow spaces become plain spaces so the text can be grepped and tested.

export interface MoneyOptions {
  /**
   * BCP 47 locale for grouping, decimal mark and symbol placement.
   * @defaultValue 'pt-BR'
   */
  locale?: string;
  /**
   * ISO 4217 code. Required unless the locale has a default here.
   * @defaultValue 'BRL' for pt-BR, 'USD' for en-US, 'COP' for es-CO
   */
  currency?: string;
}

export const DEFAULT_LOCALE = 'pt-BR';

const DEFAULT_CURRENCIES: Readonly<Record<string, string>> = { 'pt-BR': 'BRL', 'en-US': 'USD', 'es-CO': 'COP' };

/**
 * Formats an amount in the currency's minor units (cents for BRL/USD; whole yen for JPY, whose
 * minor unit has 0 digits). Exact for any bigint: the amount never passes through a float.
 * @throws RangeError for a non-integer, non-finite or unsafe number, or when no currency is known.
 */
export function formatMoney(cents: number | bigint, options: MoneyOptions = {}): string {
  const minor = toBigInt(cents, 'formatMoney');
  const locale = options.locale ?? DEFAULT_LOCALE;
  const currency = options.currency ?? defaultCurrency(locale);
  const format = new Intl.NumberFormat(locale, { style: 'currency', currency });
  // Intl knows each currency's minor-unit digits (2 for BRL, 0 for JPY and, in CLDR, COP).
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return normaliseSpaces(format.format(toDecimal(minor, digits)));
}

/**
 * Formats a whole count with the locale's grouping (`1.234` in pt-BR, `1,234` in en-US).
 * @throws RangeError for a non-integer, non-finite or unsafe number.
 */
export function formatCount(n: number | bigint, locale: string = DEFAULT_LOCALE): string {
  return normaliseSpaces(new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(toBigInt(n, 'formatCount')));
}

function defaultCurrency(locale: string): string {
  const [canonical] = Intl.getCanonicalLocales(locale);
  const currency = canonical === undefined ? undefined : DEFAULT_CURRENCIES[canonical];
  if (currency === undefined) {
    throw new RangeError(`formatMoney: no default currency for locale "${locale}"; pass options.currency (e.g. 'EUR')`);
  }
  return currency;
}

function toBigInt(value: number | bigint, caller: string): bigint {
  if (typeof value === 'bigint') return value;
  if (!Number.isFinite(value) || !Number.isInteger(value)) {
    throw new RangeError(`${caller}: expected an integer (minor units such as cents), got ${value}`);
  }
  // Past 2^53 the number is already not the amount the caller meant.
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${caller}: ${value} is beyond Number.MAX_SAFE_INTEGER; pass a bigint`);
  }
  return BigInt(value);
}

/** `123456n, 2` → `'1234.56'`; a decimal string Intl formats exactly. */
function toDecimal(minor: bigint, digits: number): `${number}` {
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  const scale = 10n ** BigInt(digits);
  const whole = (abs / scale).toString();
  const fraction = digits > 0 ? `.${(abs % scale).toString().padStart(digits, '0')}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}` as `${number}`;
}

/** Intl separates with U+00A0 (no-break space) and U+202F (narrow no-break space). */
function normaliseSpaces(text: string): string {
  return text.replace(/[\u00A0\u202F]/g, ' ');
}
