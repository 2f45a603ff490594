// Masking keeps secrets out of logs and API answers and leaves the rest exactly as it was.
import { describe, expect, it } from 'vitest';
import { maskHeaders, masker, maskText, maskUrl } from './mask.js';

describe('maskHeaders', () => {
  it('keeps the scheme of authorization headers and masks the credential', () => {
    expect(maskHeaders({ authorization: 'Bearer eyJhbGciOi.abc.def', 'Proxy-Authorization': 'Basic dXNlcjpwYXNz' })).toEqual({
      authorization: 'Bearer ****',
      'Proxy-Authorization': 'Basic ****',
    });
  });

  it('masks an authorization value that has no scheme whole', () => {
    expect(maskHeaders({ Authorization: 'rawtoken123' })).toEqual({ Authorization: '****' });
  });

  it('masks cookies, API keys and any header named like a secret or token, value by value', () => {
    expect(
      maskHeaders({
        cookie: 'sid=abc',
        'set-cookie': ['a=1', 'b=2'],
        'X-API-Key': 'k-123',
        'x-auth-token': 't-1',
        'x-client-secret': 's-1',
        'x-goog-api-key': 'g-1',
      }),
    ).toEqual({
      cookie: '****',
      'set-cookie': ['****', '****'],
      'X-API-Key': '****',
      'x-auth-token': '****',
      'x-client-secret': '****',
      'x-goog-api-key': '****',
    });
  });

  it('leaves webhook signatures, ordinary headers and missing values as they are, and does not touch its input', () => {
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
      'content-type': 'application/json',
      'content-length': 12 as number | undefined,
      'x-missing': undefined,
      authorization: 'Bearer abc',
    };
    expect(maskHeaders(headers)).toEqual({ ...headers, authorization: 'Bearer ****' });
    expect(headers.authorization).toBe('Bearer abc');
  });
});

describe('maskUrl', () => {
  it('masks the userinfo password and keeps the user', () => {
    expect(maskUrl('https://alice:s3cr3t@api.example.com/v1/customers')).toBe('https://alice:****@api.example.com/v1/customers');
  });

  it('masks query values whose name says secret, and nothing else', () => {
    expect(
      maskUrl('https://login.example.com/services/oauth2/token?grant_type=password&client_id=abc&client_secret=xyz&username=bob&password=p%40ss&page=2'),
    ).toBe('https://login.example.com/services/oauth2/token?grant_type=password&client_id=abc&client_secret=****&username=bob&password=****&page=2');
    expect(maskUrl('https://x.test/cb?code=4%2F0Ab&state=s1&sig=aa&api-key=k&apiKey=k2&access_token=t&X-Amz-Signature=f0&limit=10')).toBe(
      'https://x.test/cb?code=****&state=s1&sig=****&api-key=****&apiKey=****&access_token=****&X-Amz-Signature=****&limit=10',
    );
  });

  it('keeps empty values and bare names, and decodes names before matching', () => {
    expect(maskUrl('https://x.test/a?token=&flag&client%5Fsecret=v')).toBe('https://x.test/a?token=&flag&client%5Fsecret=****');
  });

  it('masks tokens in a fragment that carries parameters, and leaves a plain anchor', () => {
    expect(maskUrl('https://app.test/cb#access_token=abc&token_type=bearer&expires_in=60')).toBe(
      'https://app.test/cb#access_token=****&token_type=****&expires_in=60',
    );
    expect(maskUrl('https://docs.test/page#section-2')).toBe('https://docs.test/page#section-2');
  });

  it('keeps the Slack team and channel ids and masks the webhook secret, whatever its length', () => {
    expect(maskUrl('https://hooks.slack.com/services/T00000000/B00000000/XXXX')).toBe('https://hooks.slack.com/services/T00000000/B00000000/****');
    expect(maskUrl('https://hooks.slack.com/services/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')).toBe(
      'https://hooks.slack.com/services/T024BE7LD/B06A1B2C3D4/****',
    );
  });

  it('masks long random path segments anywhere, but keeps short ids and lower-case slugs', () => {
    expect(
      maskUrl('https://discord.com/api/webhooks/1234567890123456789/AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789-abcdefghij'),
    ).toBe('https://discord.com/api/webhooks/1234567890123456789/****');
    expect(maskUrl('https://hook.eu1.make.com/u1k2x9q8w7e6r5t4y3u2i1o0p9a8s7d6')).toBe('https://hook.eu1.make.com/****');
    expect(maskUrl('https://api.example.com/v2/customer-profile-updates/42/orders?page=1')).toBe(
      'https://api.example.com/v2/customer-profile-updates/42/orders?page=1',
    );
  });

  it('masks a user name that is itself a token (GitHub-style)', () => {
    expect(maskUrl('https://ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4@github.com/org/repo.git')).toBe('https://****@github.com/org/repo.git');
  });

  it('accepts URL objects and leaves a secret-free URL byte-for-byte', () => {
    expect(maskUrl(new URL('http://127.0.0.1:8080/token'))).toBe('http://127.0.0.1:8080/token');
    expect(maskUrl('https://api.example.com/a%20b/?q=x+y')).toBe('https://api.example.com/a%20b/?q=x+y');
  });
});

describe('maskText', () => {
  it('replaces every occurrence of each known secret', () => {
    expect(maskText('secret hunter2 sent, hunter2 again, token tok-abc', ['hunter2', 'tok-abc'])).toBe('secret **** sent, **** again, token ****');
  });

  it('masks URL- and form-encoded copies of a secret too', () => {
    expect(maskText('url ?password=p%40ss%2Fw+rd and ?password=p%40ss%2Fw%20rd', ['p@ss/w rd'])).toBe('url ?password=**** and ?password=****');
  });

  it('masks the longer of two overlapping secrets whole', () => {
    expect(maskText('key abcd-efgh', ['abcd', 'abcd-efgh'])).toBe('key ****');
  });

  it('ignores secrets shorter than 4 characters and undefined entries', () => {
    expect(maskText('a cat sat', ['a', 'cat', undefined])).toBe('a cat sat');
  });
});

describe('masker', () => {
  it('masks as maskText does with the same secrets, each call, the forms worked out once', () => {
    const mask = masker(['p@ss/w rd', 'abcd', 'abcd-efgh', undefined]);
    const texts = ['url ?password=p%40ss%2Fw+rd and ?password=p%40ss%2Fw%20rd', 'key abcd-efgh then abcd', 'nothing to hide', ''];
    for (const text of texts) expect(mask(text)).toBe(maskText(text, ['p@ss/w rd', 'abcd', 'abcd-efgh', undefined]));
    expect(mask('key abcd-efgh then abcd')).toBe('key **** then ****');
  });

  it('returns text unchanged when no secret is long enough to mask', () => {
    expect(masker(['abc', undefined])('abc abc')).toBe('abc abc');
  });
});
