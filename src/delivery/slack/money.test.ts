import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCount, formatMoney } from './money.js';

describe('formatMoney', () => {
  it('formats cents as reais in pt-BR by default, with a plain space after R$', () => {
    expect(formatMoney(123456)).toBe('R$ 1.234,56');
    expect(formatMoney(123456, { locale: 'pt-BR' })).toBe('R$ 1.234,56');
  });

  it('formats cents as dollars in en-US', () => {
    expect(formatMoney(123456, { locale: 'en-US' })).toBe('$1,234.56');
  });

  it('keeps the leading zero of small amounts', () => {
    expect(formatMoney(5)).toBe('R$ 0,05');
    expect(formatMoney(0)).toBe('R$ 0,00');
    expect(formatMoney(-0)).toBe('R$ 0,00');
  });

  it('groups large amounts', () => {
    expect(formatMoney(123456789)).toBe('R$ 1.234.567,89');
  });

  it('formats negative amounts', () => {
    expect(formatMoney(-123456)).toBe('-R$ 1.234,56');
    expect(formatMoney(-5, { locale: 'en-US' })).toBe('-$0.05');
  });

  it('is exact for bigint amounts past 2^53', () => {
    expect(formatMoney(123456789012345678901n)).toBe('R$ 1.234.567.890.123.456.789,01');
  });

  it('uses the minor-unit digits of zero- and three-decimal currencies', () => {
    expect(formatMoney(1234, { locale: 'en-US', currency: 'JPY' })).toBe('¥1,234');
    expect(formatMoney(1234, { locale: 'en-US', currency: 'BHD' })).toBe('BHD 1.234');
    // CLDR gives COP 0 digits (not ISO 4217's 2), so the amount is whole pesos.
    expect(formatMoney(123456, { locale: 'es-CO' })).toBe('$ 123.456');
  });

  it('lets the currency differ from the locale default', () => {
    expect(formatMoney(123456, { locale: 'pt-BR', currency: 'USD' })).toBe('US$ 1.234,56');
    expect(formatMoney(123456, { locale: 'en-US', currency: 'BRL' })).toBe('R$1,234.56');
  });

  it('replaces the narrow no-break space some locales group with', () => {
    expect(formatMoney(123456, { locale: 'fr-FR', currency: 'EUR' })).toBe('1 234,56 €');
  });

  it('canonicalises the locale before picking its default currency', () => {
    expect(formatMoney(100, { locale: 'pt-br' })).toBe('R$ 1,00');
  });

  it('requires a currency for a locale without a default', () => {
    expect(() => formatMoney(100, { locale: 'fr-FR' })).toThrow(/no default currency for locale "fr-FR"/);
  });

  it('rejects amounts that are not whole minor units', () => {
    expect(() => formatMoney(12.5)).toThrow(RangeError);
    expect(() => formatMoney(12.5)).toThrow(/expected an integer/);
    expect(() => formatMoney(Number.NaN)).toThrow(RangeError);
    expect(() => formatMoney(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => formatMoney(2 ** 60)).toThrow(/pass a bigint/);
  });

  it('formats back to n/100 for any integer in ±10^12 (pt-BR)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 1e12 }), (n) => {
        const text = formatMoney(n, { locale: 'pt-BR' });
        const parsed = Number(text.replace('R$ ', '').replaceAll('.', '').replace(',', '.'));
        expect(parsed).toBe(n / 100);
      }),
    );
  });
});

describe('formatCount', () => {
  it('groups thousands the locale way', () => {
    expect(formatCount(1234)).toBe('1.234');
    expect(formatCount(1234, 'pt-BR')).toBe('1.234');
    expect(formatCount(1234567, 'en-US')).toBe('1,234,567');
    expect(formatCount(12n, 'en-US')).toBe('12');
  });

  it('rejects a fractional count', () => {
    expect(() => formatCount(1.5)).toThrow(RangeError);
  });
});
