import t from 'tap'
import { generateSecretKey } from '../../src/credentials/secret-key.js'
import { createAuthorizer, type AuthorizerEvent } from '../../src/authorizer/index.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { openStore } from '../../src/store/index.js'
import { createTestDatabase } from '../helpers/databases.js'
import { missing } from '../helpers/requires.js'
import { testPolicy } from '../helpers/authorizer.js'
import { tcpProxy, type ProxyMode } from '../helpers/tcp-proxy.js'
import { until } from '../helpers/until.js'

const DECISION_TIMEOUT_MS = 500

type Kind = 'cached' | 'unseen' | 'forged' | 'revoked' | 'negative'
interface Observation { kind: Kind; mode: ProxyMode; status: number }

t.test('the network to PostgreSQL cut mid-load', async (t) => {
  if (missing(t, 'postgres')) return
  const url = await createTestDatabase(t)
  const setup = await openStore({ databaseUrl: url })
  t.teardown(async () => { await setup.close() })
  const proxy = await tcpProxy(t, Number(new URL(url).port || 5432))
  const store = await openStore({
    databaseUrl: proxy.url(url), migrate: false, connectionTimeoutMillis: 1_000, statementTimeoutMillis: 1_000, onError: () => {}
  })
  const events: AuthorizerEvent[] = []
  // The caches' sizes the moment the store reports that changes may have been missed.
  let sizesAtResync: Record<string, number> | null = null
  const sizes = (): Record<string, number> => Object.fromEntries(Object.entries(authorizer.cacheStats()).map(([name, s]) => [name, s.size]))
  const authorizer = await createAuthorizer({
    store,
    policy: await testPolicy(),
    decisionTimeoutMs: DECISION_TIMEOUT_MS,
    // Unknown and revoked keys are sent thousands of times from one address: the failed-authentication throttle is test/limits/'s.
    throttle: false,
    // Short TTLs, so that the outage outlasts them and stale-if-error is what serves the cached key.
    cache: { ttlMs: 200, negativeTtlMs: 200, staleIfErrorMs: 60_000 },
    onEvent: (event) => {
      events.push(event)
      if (event.type === 'resync') sizesAtResync ??= sizes()
    }
  })
  t.teardown(async () => { await authorizer.close(); await store.close() })

  const user = await createAccount(setup, { email: 'load@example.com' })
  const cached = await issueKey(setup, { userId: user.id })
  const unseen = await issueKey(setup, { userId: user.id })
  const revoked = await issueKey(setup, { userId: user.id })
  const negative = generateSecretKey().key
  const forged = cached.token.slice(0, 12) + (cached.token[12] === 'a' ? 'b' : 'a') + cached.token.slice(13)
  const tokens: Record<Kind, string> = { cached: cached.token, unseen: unseen.token, forged, revoked: revoked.token, negative }
  const decide = async (kind: Kind) => await authorizer.authorize({
    method: 'GET', path: '/api/v1/bot/list', scheme: 'https', headers: { authorization: `Bearer ${tokens[kind]}` }
  })

  // Warm: the cached and the revoked key are known, the unknown key is known to be unknown.
  t.equal((await decide('cached')).status, 200)
  t.equal((await decide('revoked')).status, 200)
  t.equal((await decide('negative')).status, 401)
  // Revoked while the store is up: the notification drops it, and nothing may bring it back.
  await setup.revokeKey(revoked.id)
  await until(() => events.some((e) => e.type === 'invalidated' && e.change.type === 'key' && e.change.id === revoked.id))

  let mode: ProxyMode = 'up'
  const seen: Observation[] = []
  let stopped = false
  const kinds: Kind[] = ['cached', 'forged', 'revoked', 'negative', 'cached']
  const worker = async (): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const kind = kinds[i % kinds.length]!
      const at = mode
      const { status } = await decide(kind)
      seen.push({ kind, mode: at === mode ? at : 'silent', status })
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  }
  const workers = Array.from({ length: 8 }, worker)

  const phase = async (next: ProxyMode, ms: number): Promise<void> => {
    mode = next
    proxy.set(next)
    await new Promise((resolve) => setTimeout(resolve, ms))
  }
  await phase('up', 300)
  const warm = sizes()
  t.ok((warm.keys ?? 0) > 0 && (warm.accounts ?? 0) > 0, `the caches hold entries before the outage (${JSON.stringify(warm)})`)
  await phase('silent', 1_500)
  // Never presented before the outage: cannot be decided without the store.
  const unseenDuringOutage = await decide('unseen')
  await phase('refuse', 1_000)
  const unseenRefused = await decide('unseen')
  mode = 'up'
  proxy.set('up')
  // Recovery, with no restart: the key never seen is decided again once the store answers.
  await until(() => { void decide('unseen').then((d) => { if (d.status === 200) stopped = true }); return stopped }, 15_000)
  await Promise.all(workers)

  t.equal(unseenDuringOutage.status, 503, 'a key never seen: 503 while the store is silent')
  t.equal(unseenRefused.status, 503, 'and while it refuses connections')
  const down = seen.filter((o) => o.mode !== 'up')
  t.ok(down.length > 20, `decisions during the outage (${down.length})`)
  t.same(seen.filter((o) => o.kind === 'forged' && o.status !== 401), [], 'forged keys: 401 throughout, store or not')
  t.same(seen.filter((o) => o.kind === 'revoked' && o.status === 200), [], 'a revoked key is never served stale')
  t.same(seen.filter((o) => o.kind === 'negative' && o.status === 200), [], 'an unknown key is never allowed')
  t.ok(down.some((o) => o.kind === 'negative' && o.status === 503), '"not found" is not served stale: 503 once it expired')
  t.ok(down.some((o) => o.kind === 'cached' && o.status === 200), 'the cached key is served stale during the outage')
  t.same(seen.filter((o) => ![200, 401, 403, 503].includes(o.status)), [], 'no other status')
  t.ok(events.some((e) => e.type === 'stale'), 'stale serves are reported')
  await until(() => events.some((e) => e.type === 'resync'), 10_000)
  t.same(sizesAtResync, { keys: 0, accounts: 0, children: 0, decisions: 0 }, 'the LISTEN connection came back and every cache was cleared')
  t.equal((await decide('revoked')).status, 401, 'the revoked key, asked of the store again')
  t.equal((await decide('cached')).status, 200)
})

t.test('a store that never answers: 503 within the decision deadline, not after the driver timeouts', async (t) => {
  if (missing(t, 'postgres')) return
  const url = await createTestDatabase(t)
  const setup = await openStore({ databaseUrl: url })
  t.teardown(async () => { await setup.close() })
  const proxy = await tcpProxy(t, Number(new URL(url).port || 5432))
  proxy.set('silent')
  // Driver timeouts well past the deadline: only the deadline can bound the decision.
  const store = await openStore({ databaseUrl: proxy.url(url), migrate: false, connectionTimeoutMillis: 10_000, onError: () => {} })
  let settledQueries = 0
  const query = store.database.query.bind(store.database)
  store.database.query = (async (...args: Parameters<typeof query>) => {
    try { return await query(...args) } finally { settledQueries++ }
  }) as typeof store.database.query
  const read = store.database.read.bind(store.database)
  store.database.read = (async (...args: Parameters<typeof read>) => {
    try { return await read(...args) } finally { settledQueries++ }
  }) as typeof store.database.read
  // Not listening: subscribing would wait out the connection timeout first.
  const authorizer = await createAuthorizer({ store, policy: await testPolicy(), decisionTimeoutMs: 300, invalidation: false, throttle: false })
  t.teardown(async () => { await authorizer.close(); await store.close() })
  // First of the teardowns: connections waiting on the silent proxy fail now rather than after their timeouts.
  t.teardown(() => { proxy.set('refuse') })
  const user = await createAccount(setup, { email: 'slow@example.com' })
  const key = await issueKey(setup, { userId: user.id })
  const results = await Promise.all(Array.from({ length: 50 }, async () => await authorizer.authorize({
    method: 'GET', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${key.token}` }
  })))
  t.same([...new Set(results.map((r) => r.status))], [503])
  t.equal(settledQueries, 0, 'answered while the store query still waits on the network: the deadline answered, not a driver timeout')
})
