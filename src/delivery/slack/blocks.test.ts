import { describe, expect, it } from 'vitest';
import { context, divider, escapeMrkdwn, fields, header, section, slackMessage } from './blocks.js';

describe('Block Kit builders', () => {
  it('build the JSON Slack expects', () => {
    expect(header('Relatório de Eventos Pix CashOut')).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Relatório de Eventos Pix CashOut' } });
    expect(section('*ACC*: 3')).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '*ACC*: 3' } });
    expect(fields('*a*', '*b*')).toEqual({ type: 'section', fields: [{ type: 'mrkdwn', text: '*a*' }, { type: 'mrkdwn', text: '*b*' }] });
    expect(context('gerado automaticamente')).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: 'gerado automaticamente' }] });
    expect(divider()).toEqual({ type: 'divider' });
  });

  it('wrap blocks in the body an incoming webhook accepts', () => {
    const message = slackMessage({ text: 'fallback', blocks: [header('Title'), divider()] });
    expect(JSON.parse(JSON.stringify(message))).toEqual({
      text: 'fallback',
      blocks: [{ type: 'header', text: { type: 'plain_text', text: 'Title' } }, { type: 'divider' }],
    });
    expect(slackMessage({ text: 'only text' })).toEqual({ text: 'only text', blocks: [] });
  });
});

describe("Slack's limits", () => {
  it('header text: 150 characters', () => {
    expect(header('x'.repeat(150)).text.text).toHaveLength(150);
    expect(() => header('x'.repeat(151))).toThrow('Slack header text is 151 characters; the limit is 150');
  });

  it('section text: 3000 characters', () => {
    expect(() => section('x'.repeat(3000))).not.toThrow();
    expect(() => section('x'.repeat(3001))).toThrow('Slack section text is 3001 characters; the limit is 3000');
  });

  it('section fields: 1 to 10, each at most 2000 characters', () => {
    expect(fields(...Array.from({ length: 10 }, (_, i) => `f${i}`)).fields).toHaveLength(10);
    expect(() => fields(...Array.from({ length: 11 }, (_, i) => `f${i}`))).toThrow('Slack section fields: 11 given; the limit is 10');
    expect(() => fields()).toThrow(/at least 1/);
    expect(() => fields('ok', 'x'.repeat(2001))).toThrow('Slack section field 2 is 2001 characters; the limit is 2000');
  });

  it('context elements: at most 10', () => {
    expect(() => context(...Array.from({ length: 11 }, () => 'c'))).toThrow('Slack context elements: 11 given; the limit is 10');
  });

  it('empty text is rejected, as Slack does', () => {
    expect(() => header('')).toThrow(/header text is empty/);
    expect(() => section('')).toThrow(/section text is empty/);
    expect(() => slackMessage({ text: '  ', blocks: [] })).toThrow(/fallback text is empty/);
  });

  it('a message: at most 50 blocks', () => {
    expect(slackMessage({ text: 't', blocks: Array.from({ length: 50 }, divider) }).blocks).toHaveLength(50);
    expect(() => slackMessage({ text: 't', blocks: Array.from({ length: 51 }, divider) })).toThrow('Slack message has 51 blocks; the limit is 50');
  });
});

describe('escapeMrkdwn', () => {
  it('escapes &, < and > so data cannot mention, link or inject entities', () => {
    expect(escapeMrkdwn('<!channel> & <https://evil.example|click>')).toBe('&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;');
  });

  it('escapes an existing entity rather than leaving it live', () => {
    expect(escapeMrkdwn('&lt;')).toBe('&amp;lt;');
  });

  it('leaves markdown marks and other text alone', () => {
    expect(escapeMrkdwn('*bold* _it_ ~s~ `c` R$ 1.234,56')).toBe('*bold* _it_ ~s~ `c` R$ 1.234,56');
  });
});
