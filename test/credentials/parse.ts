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
    [{ authorization: `Basic dXNlcjpwYXNz` }, 'not_bearer'],
    [{ authorization: key }, 'not_bearer'],
    [{ authorization: 'Bearer' }, 'bad_syntax'],
    [{ authorization: 'Bearer ' }, 'bad_syntax'],
    [{ authorization: `Bearer ${key} extra` }, 'bad_syntax'],
    [{ authorization: `Bearer\t${key}` }, 'bad_syntax'],
    [{ authorization: `Bearer ${key}\u0000` }, 'bad_syntax'],
    [{ authorization: `Bearer ${key.slice(0, -1)}x` }, 'bad_checksum'],
    [{ authorization: 'Bearer sk-short' }, 'bad_checksum'],
    [{ authorization: 'Bearer opaque-token' }, 'unknown_token_format'],
    [{ authorization: 'Bearer a.b' }, 'unknown_token_format'],
    [{ authorization: `Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH)}` }, 'too_long'],
    [{ authorization: [`Bearer ${key}`, `Bearer ${key}`] }, 'duplicate_header'],
    [{ authorization: `Bearer ${key}`, Authorization: `Bearer ${key}` }, 'duplicate_header']
  ]
  for (const [headers, reason] of cases) {
    t.same(parseCredentials(headers).credential, { type: 'malformed', reason }, JSON.stringify(headers).slice(0, 80))
  }
})

t.test('run-as headers, alias and e-mail', async (t) => {
  t.same(parseCredentials({ 'x-runas-user-id': ' usr_abc ' }).runAs, [{ via: 'user_id', value: 'usr_abc', wellFormed: true }])
  t.same(parseCredentials({ 'X-RunAs-UserId': 'usr_abc' }).runAs, [{ via: 'user_id', value: 'usr_abc', wellFormed: true }])
  t.same(parseCredentials({ 'X-RunAs-Child-User-Email': ' Child@Example.COM ' }).runAs,
    [{ via: 'email', value: 'Child@Example.COM', wellFormed: true }])
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
    { 'x-runas-child-user-email': `${'a'.repeat(250)}@example.com` }
  ]) {
    const runAs = parseCredentials(headers).runAs
    t.equal(runAs.length, 1, JSON.stringify(headers).slice(0, 60))
    t.equal(runAs[0]?.wellFormed, false)
  }
})
