import t from 'tap'
import { parseCredentials, MAX_AUTHORIZATION_LENGTH } from '../../src/credentials/parse.js'
import { generateSecretKey } from '../../src/credentials/secret-key.js'

const { key } = generateSecretKey()
const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl'

t.test('no credential', async (t) => {
  t.same(parseCredentials({}).credential, { type: 'none' })
  t.same(parseCredentials({ authorization: '' }).credential, { type: 'none' })
  t.same(parseCredentials({ authorization: '   ' }).credential, { type: 'none' })
  t.same(parseCredentials({ authorization: [] }).credential, { type: 'none' })
})

t.test('a secret key in any case of the scheme and header name', async (t) => {
  for (const headers of [
    { authorization: `Bearer ${key}` },
    { Authorization: `bearer ${key}` },
    { AUTHORIZATION: `BEARER  ${key}` },
    { authorization: [`Bearer ${key}`] }
  ]) {
    t.same(parseCredentials(headers).credential, { type: 'secret_key', key }, JSON.stringify(Object.keys(headers)))
  }
})

t.test('a JWT-shaped token is a session credential', async (t) => {
  t.same(parseCredentials({ authorization: `Bearer ${jwt}` }).credential, { type: 'session', token: jwt })
})

t.test('malformed credentials say why (for the log only)', async (t) => {
  const cases: Array<[Record<string, string | string[]>, string]> = [
    [{ authorization: 'Bearer' }, 'bad_syntax'],
    [{ authorization: 'Bearer ' }, 'bad_syntax'],
    [{ authorization: `Bearer ${key} extra` }, 'bad_syntax'],
    [{ authorization: `Bearer\t${key}` }, 'bad_syntax'],
    [{ authorization: `Bearer ${key}\u0000` }, 'bad_syntax'],
    // The last character changed (to another one: a key that ends in x stays valid with an x).
    [{ authorization: `Bearer ${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}` }, 'bad_checksum'],
    [{ authorization: 'Bearer sk-short' }, 'bad_checksum'],
    [{ authorization: 'Bearer opaque-token' }, 'unknown_token_format'],
    [{ authorization: 'Bearer a.b' }, 'unknown_token_format'],
    [{ authorization: `Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH)}` }, 'too_long'],
    [{ authorization: [`Bearer ${key}`, `Bearer ${key}`] }, 'duplicate_header'],
    [{ authorization: `Bearer ${key}`, Authorization: `Bearer ${key}` }, 'duplicate_header'],
    // Only SP and HTAB are optional whitespace (RFC 9110): any other byte around or in a credential makes it malformed.
    [{ authorization: `Bearer ${key}\u00a0` }, 'bad_syntax'],
    [{ authorization: `\u00a0Bearer ${key}` }, 'bad_syntax'],
    [{ authorization: `Bearer ${jwt}\u00a0` }, 'bad_syntax'],
    [{ authorization: `Bearer\u00a0${key}` }, 'bad_syntax'],
    [{ authorization: `Bearer ${key}\u3000` }, 'bad_syntax'],
    [{ authorization: `\ufeffBearer ${key}` }, 'bad_syntax'],
    [{ authorization: `Bearer ${key}\u2028` }, 'bad_syntax'],
    [{ authorization: `Bearer ${key}\u0085` }, 'bad_syntax']
  ]
  for (const [headers, reason] of cases) {
    t.same(parseCredentials(headers).credential, { type: 'malformed', reason }, printable(JSON.stringify(headers)).slice(0, 80))
  }
})

t.test('another scheme, or a bare credential, is no Bearer credential (RFC 6750 §3.1: no error)', async (t) => {
  for (const authorization of ['Basic dXNlcjpwYXNz', `Token ${key}`, 'Digest username="a", realm="b"', key, jwt, 'dXNlcjpwYXNz==', 'Negotiate', 'bearerx abc']) {
    t.same(parseCredentials({ authorization }).credential, { type: 'other_scheme' }, authorization.slice(0, 40))
  }
})

t.test('SP and HTAB around a credential are optional whitespace', async (t) => {
  for (const authorization of [` Bearer ${key}`, `Bearer ${key} `, `\tBearer ${key}\t`, `bearer  ${key}`]) {
    t.same(parseCredentials({ authorization }).credential, { type: 'secret_key', key }, JSON.stringify(authorization.slice(0, 12)))
  }
  t.same(parseCredentials({ authorization: ' \t ' }).credential, { type: 'none' })
})

t.test('run-as headers, alias and e-mail', async (t) => {
  t.same(parseCredentials({ 'x-runas-user-id': ' usr_abc ' }).runAs, [{ via: 'user_id', value: 'usr_abc', wellFormed: true }])
  t.same(parseCredentials({ 'X-RunAs-UserId': 'usr_abc' }).runAs, [{ via: 'user_id', value: 'usr_abc', wellFormed: true }])
  t.same(parseCredentials({ 'X-RunAs-Child-User-Email': ' Child@Example.COM\t' }).runAs,
    [{ via: 'email', value: 'Child@Example.COM', wellFormed: true }])
  t.same(parseCredentials({ 'X-RunAs-Child-User-Email': 'Jürgen@münchen.example' }).runAs,
    [{ via: 'email', value: 'Jürgen@münchen.example', wellFormed: true }], 'letters of any script, kept as given')
  t.same(parseCredentials({}).runAs, [])
  const both = parseCredentials({ 'x-runas-user-id': 'usr_a', 'x-runas-child-user-email': 'c@example.com' }).runAs
  t.same(both.map((r) => r.via), ['user_id', 'email'])
})

t.test('malformed run-as values are kept as refusals, never dropped', async (t) => {
  for (const headers of [
    { 'x-runas-user-id': '' },
    { 'x-runas-user-id': '   ' },
    { 'x-runas-user-id': 'usr/../x' },
    { 'x-runas-user-id': 'a'.repeat(65) },
    { 'x-runas-user-id': ['usr_a', 'usr_b'] },
    { 'x-runas-child-user-email': 'not-an-email' },
    { 'x-runas-child-user-email': `${'a'.repeat(250)}@example.com` },
    { 'x-runas-child-user-email': '' },
    { 'x-runas-child-user-email': ' \t' },
    { 'x-runas-child-user-email': ['a@example.com', 'a@example.com'] },
    // Only SP and HTAB are trimmed: NBSP (byte 0xA0), U+3000 and the BOM are outside the grammar.
    { 'x-runas-user-id': 'usr_abc\u00a0' },
    { 'x-runas-user-id': '\u00a0usr_abc' },
    { 'x-runas-user-id': 'usr_abc\u3000' },
    { 'x-runas-child-user-email': '\u00a0kid@example.com' },
    { 'x-runas-child-user-email': 'kid@example.com\u3000' },
    { 'x-runas-child-user-email': '\ufeffkid@example.com' },
    { 'x-runas-child-user-email': 'kid@example.com\u200b' },
    { 'x-runas-child-user-email': 'kid@example.com, other@example.com' },
    // The alias is the same header: both at once name the account twice.
    { 'x-runas-user-id': 'usr_abc', 'x-runas-userid': 'usr_abc' },
    { 'X-RunAs-User-ID': 'usr_abc', 'x-runas-user-id': 'usr_abc' }
  ]) {
    const runAs = parseCredentials(headers).runAs
    t.equal(runAs.length, 1, printable(JSON.stringify(headers)).slice(0, 60))
    t.equal(runAs[0]?.wellFormed, false)
  }
})

/** A test name on one TAP line: U+2028 and other separators would end it. */
function printable (text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
