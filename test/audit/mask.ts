import fc from 'fast-check'
import t from 'tap'
import { decisionEntry, maskText, maskValue, MASK, securityEntry } from '../../src/audit/index.js'
import type { DecisionRecord } from '../../src/authorizer/index.js'
import { generateSecretKey } from '../../src/credentials/secret-key.js'

const KEY = generateSecretKey().key
const JWT = 'eyJhbGciOiJFZERTQSIsImtpZCI6InNpZ18xIn0.eyJzdWIiOiJ1c3JfMSIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJlLW9mLWEtc2Vzc2lvbi10b2tlbi1oZXJl'

/** A record as the authorizer would make it, with secrets planted wherever a string can go. */
function planted (): DecisionRecord {
  const input = {
    version: 2 as const,
    now: 1_700_000_000_000,
    request: { method: 'GET', path: `/api/v1/bot/${KEY}/fetch`, scheme: 'https' as const },
    credential: { type: 'secret_key' as const, found: true, id: 'key_AAAAAAAAAAAAAAAAAAAA', prefix: KEY.slice(0, 9), expiresAt: null, revoked: false, scopes: null, actorId: null },
    principal: { id: 'usr_AAAAAAAAAAAAAAAAAAAA', parentId: null, role: 'user' as const, status: 'active' as const, restrictions: [] },
    actor: null,
    runAs: [],
    // Fields a future input version might add: anything header-like must not survive.
    headers: { authorization: `Bearer ${KEY}`, cookie: `session=${JWT}`, 'x-note': `token ${JWT}` },
    token: KEY,
    secret: 'hunter2-but-longer',
    password: 'correct horse battery staple'
  }
  return {
    result: {
      allow: false,
      status: 403,
      code: 'NOT_AUTHORIZED',
      reasons: [{ code: 'scope_insufficient', msg: `saw Authorization: Bearer ${KEY}` }],
      subject: 'usr_AAAAAAAAAAAAAAAAAAAA',
      actor: null,
      credential: { type: 'secret_key', id: 'key_AAAAAAAAAAAAAAAAAAAA', prefix: KEY.slice(0, 9) },
      action: { resource: 'bot', verb: 'fetch', class: 'read' },
      decisionId: 'd-1',
      policyRevision: 'r'
    },
    input: input as unknown as DecisionRecord['input'],
    timestamp: new Date(),
    durationMs: 0.25,
    client: { address: `Bearer ${JWT}` }
  } as DecisionRecord
}

t.test('a decision entry holds no secret, wherever it was planted', async (t) => {
  const record = planted()
  const text = JSON.stringify(decisionEntry(record))
  t.notOk(text.includes(KEY), 'no secret key')
  t.notOk(text.includes(KEY.slice(3)), 'not even without its prefix')
  t.notOk(text.includes(JWT.split('.')[2] as string), 'no JWT signature')
  t.notOk(text.includes('hunter2'), 'no value of a field named secret')
  t.notOk(text.includes('battery staple'), 'no value of a field named password')
  t.ok(text.includes(MASK))
  t.match(JSON.parse(text), {
    request: { path: `/api/v1/bot/${MASK}/fetch` },
    input: { headers: { authorization: MASK, cookie: MASK }, token: MASK },
    key_prefix: KEY.slice(0, 9),
    key_id: 'key_AAAAAAAAAAAAAAAAAAAA'
  })
  // The record itself is left as it was (masking copies).
  t.equal((record.input as unknown as { token: string }).token, KEY)

  const event = JSON.stringify(securityEntry(record, { event: 'revoked_key_presented', msg: 'm', count: 1, windowSeconds: null, group: { key: KEY } }))
  t.notOk(event.includes(KEY) || event.includes(JWT.split('.')[2] as string), 'nor a security event')
})

t.test('display prefixes, ids and ordinary words stay', async (t) => {
  for (const text of ['sk-AbC123', 'key_AAAAAAAAAAAAAAAAAAAA', 'a session token cannot perform management actions',
    'the bearer of this key', 'Basic access', '/api/v1/bot/list', 'usr_AAAAAAAAAAAAAAAAAAAA', '203.0.113.9']) {
    t.equal(maskText(text), text, text)
  }
  t.same(maskValue({ a: [1, null, true, 'x'], key_id: 'key_x', prefix: 'sk-AbC123' }), { a: [1, null, true, 'x'], key_id: 'key_x', prefix: 'sk-AbC123' })
})

t.test('a lone surrogate becomes U+FFFD (no JSON a database stores can hold it); pairs stay', async (t) => {
  t.equal(maskText('a\ud800b'), 'a\ufffdb')
  t.equal(maskText('\udc00'), '\ufffd')
  t.equal(maskText('\udbff\ud800'), '\ufffd\ufffd')
  t.equal(maskText('é😀'), 'é😀')
  t.equal(maskText(`\ud800${KEY}`), `\ufffd${MASK}`)
  t.same(maskValue({ path: '/x\udfff' }), { path: '/x\ufffd' })
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => maskText(text).isWellFormed()))
})

t.test('any generated key or token inside any text is masked', async (t) => {
  fc.assert(fc.property(fc.string(), fc.string(), fc.constantFrom('key', 'jwt', 'bearer'), (before, after, kind) => {
    const secret = kind === 'key' ? generateSecretKey().key : kind === 'jwt' ? JWT : `Bearer ${generateSecretKey().key.slice(3)}`
    const masked = maskText(`${before} ${secret} ${after}`)
    const body = kind === 'jwt' ? JWT.split('.')[2] as string : secret.slice(-20)
    return !masked.includes(body)
  }), { numRuns: 300 })
  t.pass('300 generated cases')
})

t.test('a frozen part is masked once and shared, masked all the same', async (t) => {
  const credential = Object.freeze({ type: 'secret_key', id: 'key_1', note: 'sk-0123456789abcdefghijKLMNOP' })
  const first = maskValue({ now: 1, credential }) as { credential: Record<string, unknown> }
  const second = maskValue({ now: 2, credential }) as { credential: Record<string, unknown> }
  t.equal(first.credential.note, MASK)
  t.equal(second.credential, first.credential, 'the same masked copy')
  t.ok(Object.isFrozen(first.credential), 'and it is frozen, so no entry can change it for the others')
  const open = { type: 'secret_key', id: 'key_1' }
  t.not(maskValue({ open }).open, maskValue({ open }).open, 'a part that can change is masked afresh')
})
