// Masking for every log line and API answer that shows a request: headers,
// URLs and free text lose their secrets but keep enough shape to debug with.
// URLs are masked as text, so whatever is not secret stays byte-for-byte.

const MASK = '****';

/** Headers whose value is replaced whole. `webhook-signature` stays visible: it proves, it does not grant. */
const SECRET_HEADERS = new Set(['cookie', 'set-cookie', 'x-api-key']);
const SECRET_HEADER_NAME = /secret|token|passw(?:or)?d|api[-_]?key|credential/i;
/** Headers that keep their scheme (`Bearer ****`): the scheme says which auth was used. */
const SCHEMED_HEADERS = new Set(['authorization', 'proxy-authorization']);

const SECRET_QUERY_NAME = /token|secret|password|passwd|key|signature|sig|code|auth|credential/i;
/** A path segment that looks like a long random secret (Slack, Discord, Make webhook paths). */
const RANDOM_SEGMENT = /^[A-Za-z0-9_-]{24,}$/;
/** Lower-case words joined by `-` or `_` read as a slug, not as a secret. */
const SLUG = /^[a-z_-]+$/;

type HeaderValue = string | string[] | number | undefined;

const maskScheme = (value: string) => {
  const space = value.trim().indexOf(' ');
  return space > 0 ? `${value.trim().slice(0, space)} ${MASK}` : MASK;
};

const MASK_ALL = () => MASK;
/** How each header name is masked (undefined: shown), worked out once per name. */
const headerMasks = new Map<string, ((value: string) => string) | undefined>();

function headerMask(name: string): ((value: string) => string) | undefined {
  if (headerMasks.has(name)) return headerMasks.get(name);
  const lower = name.toLowerCase();
  const mask = SCHEMED_HEADERS.has(lower) ? maskScheme : SECRET_HEADERS.has(lower) || SECRET_HEADER_NAME.test(lower) ? MASK_ALL : undefined;
  // Header names come from configuration and receivers: few, but not trusted to be few.
  if (headerMasks.size >= 1000) headerMasks.clear();
  headerMasks.set(name, mask);
  return mask;
}

/** A copy of `headers` with credential values masked; names and other values unchanged. */
export function maskHeaders<T extends Record<string, HeaderValue>>(headers: T): T {
  const masked: Record<string, HeaderValue> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    const mask = headerMask(name);
    if (mask === undefined || typeof value === 'number' || value === undefined) masked[name] = value;
    else masked[name] = Array.isArray(value) ? value.map(mask) : mask(value);
  }
  return masked as T;
}

const looksSecret = (segment: string) => RANDOM_SEGMENT.test(segment) && !SLUG.test(segment);

const decode = (text: string) => {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
};

/** `a=1&token=xyz` → `a=1&token=****`; empty values and bare names stay. */
function maskParams(params: string): string {
  return params
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0 || eq === pair.length - 1 || !SECRET_QUERY_NAME.test(decode(pair.slice(0, eq)))) return pair;
      return `${pair.slice(0, eq + 1)}${MASK}`;
    })
    .join('&');
}

function maskAuthority(authority: string): string {
  const at = authority.lastIndexOf('@');
  if (at < 0) return authority;
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const shownUser = looksSecret(decode(user)) ? MASK : user;
  const password = colon < 0 ? '' : `:${userinfo.length > colon + 1 ? MASK : ''}`;
  return `${shownUser}${password}${authority.slice(at)}`;
}

function maskPath(path: string, host: string): string {
  const segments = path.split('/');
  // Slack incoming webhooks: /services/T…/B…/<secret>, whatever the secret's length.
  const slack = /(^|\.)hooks\.slack\.com$/i.test(host.replace(/:\d+$/, '')) && segments[1] === 'services' && segments.length >= 5;
  return segments.map((segment, i) => (segment !== '' && ((slack && i === 4) || looksSecret(segment)) ? MASK : segment)).join('/');
}

/**
 * A URL fit for a log line: the userinfo password, secret-named query (and
 * fragment) values, and random-looking path segments become `****`.
 */
export function maskUrl(url: string | URL): string {
  let rest = String(url);
  const hashAt = rest.indexOf('#');
  const hash = hashAt < 0 ? '' : rest.slice(hashAt + 1);
  if (hashAt >= 0) rest = rest.slice(0, hashAt);
  const queryAt = rest.indexOf('?');
  const query = queryAt < 0 ? undefined : rest.slice(queryAt + 1);
  if (queryAt >= 0) rest = rest.slice(0, queryAt);

  const origin = /^([a-z][a-z0-9+.-]*:\/\/)([^/]*)/i.exec(rest);
  const authority = origin?.[2] ?? '';
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  const path = rest.slice(origin?.[0].length ?? 0);
  return (
    (origin ? `${origin[1]}${maskAuthority(authority)}` : '') +
    maskPath(path, host) +
    (query === undefined ? '' : `?${maskParams(query)}`) +
    (hashAt < 0 ? '' : `#${hash.includes('=') ? maskParams(hash) : hash}`)
  );
}

/**
 * Replaces every occurrence of each known secret, raw or URL-encoded, with
 * `****`. Secrets under 4 characters are ignored: masking them would shred
 * ordinary text.
 */
export function maskText(text: string, secrets: readonly (string | undefined)[]): string {
  return masker(secrets)(text);
}

/** The forms a secret can take in text: as is, URL-encoded, form-encoded. */
function formsOf(secrets: readonly (string | undefined)[]): Set<string> {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret === undefined || secret.length < 4) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(new URLSearchParams({ s: secret }).toString().slice(2));
  }
  return forms;
}

/**
 * `maskText` for a fixed list of secrets, with their forms worked out once: a sink masks
 * every answer and URL it logs, and building the forms per call cost more than the masking.
 */
export function masker(secrets: readonly (string | undefined)[]): (text: string) => string {
  // Longest first, so a secret that contains another is masked whole.
  const forms = [...formsOf(secrets)].sort((a, b) => b.length - a.length);
  if (forms.length === 0) return (text) => text;
  return (text) => {
    let masked = text;
    for (const form of forms) if (masked.includes(form)) masked = masked.split(form).join(MASK);
    return masked;
  };
}
