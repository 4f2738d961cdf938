import t from 'tap'
import type { AuthorizationResult } from '../../src/authorizer/index.js'
import { allowedAnswer, denialOf, distinctHeaders, headerPicker, identityHeadersOf, notAuthorized } from '../../src/adapters/http.js'

const base: AuthorizationResult = {
  allow: false,
  status: 401,
  code: 'NOT_AUTHENTICATED',
  reasons: [{ code: 'credential_missing', msg: 'x' }],
  subject: null,
  actor: null,
  credential: { type: 'none', id: null, prefix: null },
  action: null,
  decisionId: 'd-1',
  policyRevision: 'r'
}

t.test('401: a challenge, with error="invalid_token" only when a credential was presented', async (t) => {
  const none = denialOf(base)
  t.equal(none.status, 401)
  t.equal(none.body, '{"message":"Not authenticated","code":"NOT_AUTHENTICATED"}')
  t.same(none.headers, {
    'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': String(none.body.length), 'www-authenticate': 'Bearer realm="keygate"'
  })
  for (const type of ['malformed', 'secret_key', 'session'] as const) {
    const presented = denialOf({ ...base, credential: { type, id: null, prefix: null } })
    t.equal(presented.headers['www-authenticate'], 'Bearer realm="keygate", error="invalid_token"', type)
    t.equal(presented.body, none.body)
  }
})

t.test('401 for another scheme than Bearer: no error parameter (RFC 6750 §3.1)', async (t) => {
  t.same(denialOf({ ...base, credential: { type: 'other_scheme', id: null, prefix: null } }), denialOf(base))
})

t.test('400: one answer for every malformed request, with invalid_request and nothing of the reasons', async (t) => {
  const a = denialOf({ ...base, status: 400, code: 'INVALID_REQUEST', reasons: [{ code: 'run_as_malformed', msg: 'm' }] })
  const b = denialOf({ ...base, status: 400, code: 'INVALID_REQUEST', reasons: [{ code: 'credential_two_methods', msg: 'n' }], credential: { type: 'secret_key', id: 'key_1', prefix: 'sk-a' } })
  t.same(a, b)
  t.equal(a.status, 400)
  t.equal(a.body, '{"message":"Invalid request","code":"INVALID_REQUEST"}')
  t.equal(a.headers['www-authenticate'], 'Bearer realm="keygate", error="invalid_request"')
  t.notMatch(JSON.stringify(a), /run_as|two_methods|key_1/)
})

t.test('403: one answer whatever the reasons, and nothing of them', async (t) => {
  const a = denialOf({ ...base, status: 403, code: 'NOT_AUTHORIZED', reasons: [{ code: 'impersonation_not_parent', msg: 'm' }] })
  const b = denialOf({ ...base, status: 403, code: 'NOT_AUTHORIZED', reasons: [{ code: 'scope_insufficient', msg: 'n' }], subject: 'usr_a' })
  t.same(a, b)
  t.same(a, notAuthorized())
  t.equal(a.body, '{"message":"Not authorized","code":"NOT_AUTHORIZED"}')
  t.equal(a.headers['www-authenticate'], 'Bearer realm="keygate", error="insufficient_scope"')
  t.notMatch(JSON.stringify(a), /impersonation|scope_insufficient|usr_a|d-1/)
})

t.test('503, and any status the policy should not have produced, fails closed', async (t) => {
  for (const status of [503, 200, 500] as const) {
    const answer = denialOf({ ...base, status: status as 503 })
    t.equal(answer.status, 503, String(status))
    t.equal(answer.body, '{"message":"Service unavailable","code":"SERVICE_UNAVAILABLE"}')
    t.notOk('www-authenticate' in answer.headers)
  }
})

t.test('identity headers: all five, always, empty when there is no value', async (t) => {
  const allowed = { ...base, allow: true, status: 200 as const, code: 'OK' as const, subject: 'usr_child', credential: { type: 'secret_key' as const, id: 'key_1', prefix: 'sk-abc' } }
  t.same(identityHeadersOf(allowed), {
    'x-keygate-user-id': 'usr_child', 'x-keygate-actor-id': '', 'x-keygate-key-id': 'key_1', 'x-keygate-credential': 'secret_key', 'x-keygate-decision-id': 'd-1'
  })
  t.equal(identityHeadersOf({ ...allowed, actor: 'usr_parent' })['x-keygate-actor-id'], 'usr_parent')
})

t.test('distinctHeaders keeps every value of a repeated header, names lower-cased', async (t) => {
  t.same({ ...distinctHeaders(['Authorization', 'Bearer a', 'X-Other', '1', 'authorization', 'Bearer b']) }, {
    authorization: ['Bearer a', 'Bearer b'], 'x-other': ['1']
  })
  t.same({ ...distinctHeaders([]) }, {})
})

t.test('headerPicker: only the named headers, every value, whatever the case', async (t) => {
  const pick = headerPicker(['authorization', 'x-forwarded-uri'])
  const raw = ['Authorization', 'Bearer a', 'User-Agent', 'x', 'X-Forwarded-URI', '/a', 'authorization', 'Bearer b', 'x-forwarded-url', '/no', 'Cookie', 'c=1']
  t.same({ ...pick(raw) }, { authorization: ['Bearer a', 'Bearer b'], 'x-forwarded-uri': ['/a'] })
  t.same({ ...pick([]) }, {})
})

t.test('allowed: identity headers, no-store, an empty body of length 0', async (t) => {
  const allowed = allowedAnswer({ ...base, allow: true, status: 200, code: 'OK', subject: 'usr_1', credential: { type: 'session', id: 'ses_1', prefix: null } })
  t.equal(allowed.status, 200)
  t.equal(allowed.body, '')
  t.match(allowed.headers, { 'x-keygate-user-id': 'usr_1', 'x-keygate-credential': 'session', 'cache-control': 'no-store', 'content-length': '0' })
})
