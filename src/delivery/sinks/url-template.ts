// A sink's URL template (`https://desk.example.com/accounts/{key}/sync`),
// parsed once. The template's own path is resolved by the URL parser when the
// sink is made (dot segments, percent-encoding); the values go in afterwards,
// each as exactly one segment or query value, and nothing parses the result
// again: a key of `..` cannot move the request to `/accounts/sync`, and what
// the log shows is the path that was sent.
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../errors/index.js';
import type { SinkContext } from '../sink.js';

export type TemplateValues = Pick<SinkContext, 'key' | 'entity' | 'integration' | 'eventId'>;
type Name = keyof TemplateValues;

export interface UrlTemplate {
  /** Where the request goes: the origin, and the path with its query, as sent. */
  expand(values: TemplateValues): { origin: string; path: string };
}

const PLACEHOLDER = /\{(key|entity|integration|eventId)\}/g;
const HAS_PLACEHOLDER = new RegExp(PLACEHOLDER.source);
const AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(.*)$/i;

/**
 * One value as one segment: percent-encoded, and `.` or `..` as `%2E`, since a bare dot
 * segment would be resolved by whatever reads the URL next.
 */
export function encodeSegment(value: string): string {
  const encoded = encodeURIComponent(value);
  return encoded === '.' || encoded === '..' ? encoded.replaceAll('.', '%2E') : encoded;
}

const expandText = (text: string, values: TemplateValues) => text.replace(PLACEHOLDER, (_, name: Name) => encodeSegment(values[name]));

/** Throws `ConfigError` when the template is not an absolute http(s) URL. */
export function urlTemplate(template: string): UrlTemplate {
  const split = AUTHORITY.exec(template);
  const sample = (text: string) => text.replace(PLACEHOLDER, 'x');
  let parsed: URL | undefined;
  try {
    parsed = split ? new URL(sample(split[1] as string)) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) throw new ConfigError(`sink url "${template}" must be an absolute http(s) URL`);
  const authority = split?.[1] as string;
  const fixedOrigin = HAS_PLACEHOLDER.test(authority) ? undefined : parsed.origin;

  // The path is resolved with each placeholder standing as a random word the parser leaves alone.
  const mark = `c${randomBytes(8).toString('hex')}`;
  const marked = (split?.[2] ?? '').replace(PLACEHOLDER, (_, name: Name) => `${mark}${name}${mark}`);
  const resolved = new URL(marked, parsed.origin);
  // Literal text at even indexes, placeholder names at odd ones.
  const pieces = `${resolved.pathname}${resolved.search}`.split(new RegExp(`${mark}(key|entity|integration|eventId)${mark}`));

  return {
    expand(values) {
      let path = pieces[0] as string;
      for (let i = 1; i < pieces.length; i += 2) path += encodeSegment(values[pieces[i] as Name]) + (pieces[i + 1] as string);
      return { origin: fixedOrigin ?? new URL(expandText(authority, values)).origin, path };
    },
  };
}
