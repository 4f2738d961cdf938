/**
 * A failover, end to end: two Keygate instances reach PostgreSQL only through
 * a stable address (PgBouncer: transaction pooling for queries, a
 * session-mode entry for LISTEN). The primary crashes, the standby is
 * promoted and PgBouncer is repointed at it (RELOAD). The instances recover
 * with no restart, answer 503 (never a wrong allow) while no primary is
 * reachable, refuse a key revoked during the gap, and honour a revocation
 * made on the new primary.
 */
import t from 'tap'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { openStore } from '../../src/store/index.js'
import type { RunningServer } from '../../src/server/serve.js'
import { servedInstance } from '../helpers/instances.js'
import { startPgbouncer } from '../helpers/pgbouncer.js'
import { failoverPair } from '../helpers/replication.js'
import { missing } from '../helpers/requires.js'
import { bearer } from '../helpers/server.js'
import { until } from '../helpers/until.js'

type Kind = 'kept' | 'gap'
interface Answer { instance: number, kind: Kind, sentAt: number, status: number }

const stable = (port: number): Record<string, string> => ({
  kg: `host=127.0.0.1 port=${port} dbname=postgres`,
  // LISTEN needs a session of its own: the same server, without transaction pooling.
  kg_listen: `host=127.0.0.1 port=${port} dbname=postgres pool_mode=session`
})

t.test('the primary fails over to its standby under two running instances', async (t) => {
  if (missing(t, 'replica') || missing(t, 'pgbouncer')) return
  const pair = await failoverPair(t)
  const bouncer = await startPgbouncer(t, { databases: stable(pair.primaryPort) })
  const env = { KEYGATE_DATABASE_URL: bouncer.url('kg'), KEYGATE_LISTEN_DATABASE_URL: bouncer.url('kg_listen'), KEYGATE_DECISION_TIMEOUT_MS: '500' }
  const instances: RunningServer[] = [await servedInstance(t, env), await servedInstance(t, env)]

  const setup = await openStore({ databaseUrl: pair.url(pair.primaryPort), migrate: false, onError: () => {} })
  const user = await createAccount(setup, { email: 'user@example.com' })
  const keys = {
    kept: await issueKey(setup, { userId: user.id }),
    gap: await issueKey(setup, { userId: user.id }),
    after: await issueKey(setup, { userId: user.id })
  }
  await setup.close()

  const forwardAuth = async (instance: RunningServer, token: string): Promise<number> => {
    try {
      const response = await fetch(`${instance.url}/v1/forward-auth`, {
        headers: { ...bearer(token), 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/v1/bot/list', 'x-forwarded-proto': 'https' },
        signal: AbortSignal.timeout(5_000)
      })
      await response.arrayBuffer()
      return response.status
    } catch {
      return 0
    }
  }
  const everywhere = async (token: string): Promise<number[]> => await Promise.all(instances.map(async (i) => await forwardAuth(i, token)))
  t.same(await everywhere(keys.kept.token), [200, 200], 'warm: both instances cache the keys')
  t.same(await everywhere(keys.gap.token), [200, 200])
  t.same(await everywhere(keys.after.token), [200, 200])

  // Both instances asked, over and over, from the crash to the end.
  const answers: Answer[] = []
  let polling = true
  const poller = (async () => {
    while (polling) {
      await Promise.all(instances.flatMap((instance, i) => (['kept', 'gap'] as Kind[]).map(async (kind) => {
        const sentAt = performance.now()
        answers.push({ instance: i, kind, sentAt, status: await forwardAuth(instance, keys[kind].token) })
      })))
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  // Should an assertion below throw, the poller must not keep the test alive.
  t.teardown(async () => { polling = false; await poller })
  const statusesSince = (since: number, kind: Kind): number[][] =>
    [0, 1].map((i) => answers.filter((a) => a.instance === i && a.kind === kind && a.sentAt >= since).map((a) => a.status))

  const crashedAt = performance.now()
  pair.crashPrimary()
  // Their LISTEN connections are gone with it: nothing cached is trusted, and no primary answers.
  await until(() => statusesSince(crashedAt, 'kept').every((s) => s.includes(503)), 5_000)
    .catch(() => { t.fail('both instances answer 503 once the primary is gone (their caches untrusted)') })
  const noPrimaryUntil = performance.now()

  pair.promoteStandby()
  const promotedAt = performance.now()
  // Revoked on the new primary before the stable address points there: no instance can hear of it.
  const direct = await openStore({ databaseUrl: pair.url(pair.standbyPort), migrate: false, onError: () => {} })
  t.teardown(async () => { await direct.close() })
  await direct.revokeKey(keys.gap.id)
  const revokedAt = performance.now()

  await bouncer.repoint(stable(pair.standbyPort))
  const repointedAt = performance.now()
  await until(() => {
    const last = (kind: Kind): number[] => [0, 1].map((i) => answers.filter((a) => a.instance === i && a.kind === kind).at(-1)?.status ?? 0)
    return last('kept').every((s) => s === 200) && last('gap').every((s) => s === 401)
  }, 30_000)
  const recoveredAt = performance.now()
  // Subscribed again on the new primary (the cache is trusted from then on).
  const resyncs = async (instance: RunningServer): Promise<number> => {
    const metrics = await (await fetch(`${instance.url}/metrics`)).text()
    return Number(/^keygate_cache_resyncs_total (\d+)/m.exec(metrics)?.[1] ?? 0)
  }
  let listening = [0, 0]
  await until(() => {
    void Promise.all(instances.map(resyncs)).then((counts) => { listening = counts }, () => {})
    return listening.every((count) => count >= 1)
  }, 15_000)
  const listeningAt = performance.now()
  polling = false
  await poller

  const wrongAllows = answers.filter((a) => a.kind === 'gap' && a.sentAt >= revokedAt && a.status === 200)
  t.same(wrongAllows, [], 'the key revoked during the gap is never allowed after its revocation')
  const during = answers.filter((a) => a.sentAt >= crashedAt)
  t.same([...new Set(during.filter((a) => a.kind === 'kept').map((a) => a.status))].filter((s) => s !== 200 && s !== 503), [],
    'the kept key: 200 or 503, never a 401/403 for a credential that is valid')
  t.same([...new Set(during.filter((a) => a.kind === 'gap').map((a) => a.status))].filter((s) => ![200, 401, 503].includes(s)), [], 'no other status')
  t.ok(answers.some((a) => a.kind === 'kept' && a.sentAt >= crashedAt && a.sentAt < noPrimaryUntil && a.status === 503), '503 while no primary is reachable')

  // A revocation through the API, on the new primary, heard by the other instance over its new LISTEN connection.
  const key = keys.after
  t.same(await everywhere(key.token), [200, 200], 'cached again on both')
  const revoke = await fetch(`${instances[0]!.url}/api/v1/token/${key.id}/delete`, {
    method: 'POST', headers: { ...bearer(key.token), 'content-type': 'application/json' }, body: '{}'
  })
  t.equal(revoke.status, 200, 'revoked through the first instance')
  let seen = [0, 0]
  await until(() => { void everywhere(key.token).then((s) => { seen = s }, () => {}); return seen.every((s) => s === 401) }, 5_000)
  t.same(seen, [401, 401], 'refused by both instances')
  t.same(await everywhere(keys.kept.token), [200, 200], 'the kept key still works')

  const ms = (from: number, to: number): number => Math.round(to - from)
  t.comment(`failover: 503 from the crash within ${ms(crashedAt, noPrimaryUntil)} ms; promoted after ${ms(crashedAt, promotedAt)} ms; ` +
    `repointed after ${ms(crashedAt, repointedAt)} ms; both instances answering correctly ${ms(repointedAt, recoveredAt)} ms after the repoint, ` +
    `listening again ${ms(repointedAt, listeningAt)} ms after it`)
})
