/**
 * The decision memo: a request repeated within the second is answered without
 * evaluating again, and nothing it remembers outlives a change of the facts
 * behind it — revocation, restriction, an ended session, an expiry — even
 * while the clock stands still inside that second.
 */
import t, { type Test } from 'tap'
import { createAuthorizer, type Authorizer, type AuthorizeRequest } from '../../src/authorizer/index.js'
import type { DecisionRecord } from '../../src/authorizer/result.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { Store } from '../../src/store/index.js'
import { forEachDatabase } from '../helpers/databases.js'
import { DEFAULT_BUNDLE_PATH, PolicyEngine } from '../../src/policy/engine.js'
import { testPolicy } from '../helpers/authorizer.js'
import { newSessions, TestClock } from '../helpers/sessions.js'

const LIST: Partial<AuthorizeRequest> = { method: 'GET', path: '/api/v1/bot/list', scheme: 'https' }

interface Counted {
  authorizer: Authorizer
  records: DecisionRecord[]
  evaluations: () => number
  ask(credential: string, request?: Partial<AuthorizeRequest>): Promise<number>
}

// A policy of its own per authorizer, so that its evaluations can be counted.
async function counted (t: Test, store: Store, clock: TestClock, options: Parameters<typeof createAuthorizer>[0] = {}): Promise<Counted> {
  const records: DecisionRecord[] = []
  const policy = await PolicyEngine.fromBundle(DEFAULT_BUNDLE_PATH)
  const authorizer = await createAuthorizer({ store, policy, clock: clock.read, onDecision: (r) => { records.push(r) }, ...options })
  t.teardown(async () => { await authorizer.close() })
  const engine = authorizer.policy
  let evaluations = 0
  const evaluate = engine.evaluate.bind(engine)
  engine.evaluate = (input) => { evaluations++; return evaluate(input) }
  return {
    authorizer,
    records,
    evaluations: () => evaluations,
    async ask (credential, request = {}) {
      const { headers, ...rest } = { ...LIST, ...request }
      const result = await authorizer.authorize({ method: 'GET', path: '/', ...rest, headers: { authorization: `Bearer ${credential}`, ...headers } })
      return result.status
    }
  }
}

t.test('decision memo', (t) => forEachDatabase(t, async (t, db) => {
  const store = new Store(db)
  const clock = new TestClock()
  const parent = await createAccount(store, { email: 'memo-parent@example.com' })
  const child = await createAccount(store, { email: 'memo-child@example.com', parentId: parent.id })
  const key = (await issueKey(store, { userId: parent.id }, new Date(clock.now))).token

  await t.test('a repeated request is answered from the memo, as a record of its own', async (t) => {
    const c = await counted(t, store, clock)
    t.equal(await c.ask(key), 200)
    const evaluated = c.evaluations()
    clock.advance(300)
    const second = await c.authorizer.authorize({ ...LIST, method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${key}` } })
    t.equal(c.evaluations(), evaluated, 'not evaluated again')
    const [first, again] = c.records as [DecisionRecord, DecisionRecord]
    t.not(again.result.decisionId, first.result.decisionId, 'a decision id of its own')
    t.equal(again.input?.now, clock.now, 'the input carries the time of this request')
    t.equal(again.policyMs, 0)
    t.same({ ...again.result, decisionId: '' }, { ...first.result, decisionId: '' }, 'otherwise the same decision')
    t.ok(Object.isFrozen(again.input?.principal) && Object.isFrozen(again.input?.credential), 'what the records share is read-only')
    second.reasons.push({ code: 'mine', msg: 'caller owns its copy' })
    second.credential.id = 'changed'
    const third = await c.authorizer.authorize({ ...LIST, method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${key}` } })
    t.not(third.credential.id, 'changed', 'what a caller does to its result does not reach the next one')
    t.notOk(third.reasons.some((r) => r.code === 'mine'))
    clock.advance(1000)
    await c.ask(key)
    t.equal(c.evaluations(), evaluated + 1, 'the next second decides afresh')
  })

  await t.test('every part of the request that decides is part of the key', async (t) => {
    const c = await counted(t, store, clock)
    const cases: Array<[string, Partial<AuthorizeRequest>, number]> = [
      ['a read', { path: '/api/v1/bot/list' }, 200],
      ['another path', { path: '/api/v1/bot/%2e%2e/list' }, 403],
      ['as the child', { headers: { 'x-runas-user-id': child.id } }, 200],
      ['as a stranger', { headers: { 'x-runas-user-id': 'usr_nosuchuser000000000' } }, 403],
      ['the same header in another spelling', { headers: { 'X-RunAs-User-ID': 'usr_nosuchuser000000000' } }, 403],
      ['a second Authorization', { headers: { Authorization: ['Bearer x', `Bearer ${key}`] } }, 401],
      ['plain http', { scheme: 'http' }, 200]
    ]
    for (let round = 0; round < 2; round++) {
      for (const [name, request, status] of cases) { const got = await c.ask(key, request); t.equal(got, status, `${name} (round ${round}): ${got}`) }
    }
    t.equal(await c.ask(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`), 401, 'a key one character off')
    await t.rejects(createAuthorizer({ store, policy: await testPolicy(), decisionMemo: -1 }), TypeError)
  })

  await t.test('a revocation or a restriction takes effect within the second', async (t) => {
    const c = await counted(t, store, clock)
    const mine = await issueKey(store, { userId: child.id }, new Date(clock.now))
    t.equal(await c.ask(mine.token), 200)
    t.equal(await c.ask(mine.token), 200)
    await store.addRestriction(child.id, 'suspended')
    await untilStatus(c, mine.token, 403)
    await store.removeRestriction(child.id, 'suspended')
    await untilStatus(c, mine.token, 200)
    await store.revokeKey(mine.id, new Date(clock.now))
    await untilStatus(c, mine.token, 401)
    t.pass('each change reached the memo while the clock stood still')
    c.authorizer.invalidate('all')
  })

  await t.test('invalidate() empties it', async (t) => {
    const c = await counted(t, store, clock)
    await c.ask(key)
    await c.ask(key)
    const evaluated = c.evaluations()
    c.authorizer.invalidate({ userId: parent.id })
    await c.ask(key)
    t.equal(c.evaluations(), evaluated + 1)
  })

  await t.test('a key expiring within the second is decided every time', async (t) => {
    clock.advance(1500 - (clock.now % 1000))
    const expiring = await issueKey(store, { userId: parent.id, expiresInSeconds: 1 }, new Date(clock.now))
    const c = await counted(t, store, clock)
    clock.advance(500)
    t.equal(await c.ask(expiring.token), 200, 'at the start of the second it expires in')
    clock.advance(499)
    t.equal(await c.ask(expiring.token), 200)
    clock.advance(1)
    t.equal(await c.ask(expiring.token), 401, 'expired at its instant, in the same second')
  })

  await t.test('an ended session takes effect at once', async (t) => {
    const sessions = newSessions(db, clock)
    const c = await counted(t, store, clock, { sessions })
    const session = await sessions.mint({ userId: parent.id })
    t.equal(await c.ask(session.token), 200)
    t.equal(await c.ask(session.token), 200)
    await sessions.end(session.id, parent.id)
    t.equal(await c.ask(session.token), 401)
  })

  await t.test('decisionMemo: 0 turns it off', async (t) => {
    const c = await counted(t, store, clock, { decisionMemo: 0 })
    await c.ask(key)
    await c.ask(key)
    t.equal(c.evaluations(), 2)
  })
}))

async function untilStatus (c: Counted, credential: string, status: number): Promise<void> {
  const deadline = Date.now() + 5_000
  while (await c.ask(credential) !== status) {
    if (Date.now() > deadline) throw new Error(`still not ${status} after 5 s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
