// URL templates: the template's own path is resolved once, each value goes in
// as one segment (dot segments encoded), and a host placeholder gives the origin.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors/index.js';
import { restSink } from './rest-sink.js';
import { encodeSegment, urlTemplate } from './url-template.js';

const values = { key: 'CC-1', entity: 'customer', integration: 'desk', eventId: 'evt-1' };

describe('urlTemplate', () => {
  it('puts each value in as one segment, `.` and `..` included', () => {
    const template = urlTemplate('https://Desk.Example.com:443/accounts/{key}/sync?event={eventId}');
    expect(template.expand({ ...values, key: '..', eventId: '.' })).toEqual({ origin: 'https://desk.example.com', path: '/accounts/%2E%2E/sync?event=%2E' });
    expect(template.expand({ ...values, key: 'a/../b', eventId: 'e.1' })).toEqual({ origin: 'https://desk.example.com', path: '/accounts/a%2F..%2Fb/sync?event=e.1' });
    expect(['.', '..', '...', '.a', 'a b'].map(encodeSegment)).toEqual(['%2E', '%2E%2E', '...', '.a', 'a%20b']);
  });

  it('resolves the template\'s own path once: dot segments, non-ASCII, no path at all', () => {
    expect(urlTemplate('http://h.example/a/b/../{key}/./c').expand(values).path).toBe('/a/CC-1/c');
    expect(urlTemplate('http://h.example/ação/{key}').expand(values).path).toBe('/a%C3%A7%C3%A3o/CC-1');
    expect(urlTemplate('http://h.example?k={key}').expand(values).path).toBe('/?k=CC-1');
    expect(urlTemplate('http://h.example/{key}{entity}#frag').expand(values).path).toBe('/CC-1customer');
  });

  it('takes the origin from a template with a placeholder in the host, per request', () => {
    const template = urlTemplate('https://{integration}.example.com/{key}');
    expect(template.expand(values)).toEqual({ origin: 'https://desk.example.com', path: '/CC-1' });
    expect(() => template.expand({ ...values, integration: 'a%b' })).toThrow();
  });

  it('refuses a template that is not an absolute http(s) URL, when the sink is made', () => {
    for (const bad of ['/relative/{key}', 'ftp://h.example/{key}', 'http://exa mple/', '']) expect(() => urlTemplate(bad)).toThrow(ConfigError);
    expect(() => restSink({ url: 'desk.example.com/{key}' })).toThrow(/sink url "desk.example.com\/\{key\}" must be an absolute http\(s\) URL/);
  });
});
