/**
 * The credential report's questions of the key lists, over real HTTP: keys
 * not used for N days (never used: counted from creation), keys older than
 * N days (rotation due), and each key's daily counts for a spark line.
 */
import t from 'tap'
import { issueKey } from '../../src/manage/index.js'
import { forEachDatabase } from '../helpers/databases.js'
import { auditServer } from '../helpers/audit.js'

const DAY_MS = 86_400_000

t.test('key lists: unusedDays, olderThanDays, usageDays', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store)
  const base = await server.app.listen({ host: '127.0.0.1', port: 0 })
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })
  const stranger = await server.account()
  const now = Date.now()

  // Four keys of the parent besides its own (fresh, used): their ages set in the store.
  const aged = async (name: string, createdDaysAgo: number, usedDaysAgo: number | null): Promise<string> => {
    const key = await issueKey(store, { userId: parent.id, name })
    await store.database.query('UPDATE keygate_keys SET created_at = $2, last_used_at = $3 WHERE id = $1',
      [key.id, new Date(now - createdDaysAgo * DAY_MS), usedDaysAgo === null ? null : new Date(now - usedDaysAgo * DAY_MS)])
    return key.id
  }
  const oldUsed = await aged('old, used yesterday', 200, 1)
  const oldNever = await aged('old, never used', 200, null)
  const usedLongAgo = await aged('used 120 days ago', 150, 120)
  const newNever = await aged('new, never used', 10, null)

  const list = async (query: string, headers = parent.headers, path = '/api/v1/token/list'): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${base}${path}?${query}`, { headers })
    return { status: res.status, body: await res.json() }
  }
  const ids = async (query: string, path?: string): Promise<string[]> => {
    const { status, body } = await list(query, parent.headers, path)
    t.equal(status, 200, query)
    return body.items.map((k: { id: string }) => k.id).sort()
  }

  t.same(await ids('unusedDays=90'), [oldNever, usedLongAgo].sort(), 'not used for 90 days: never used since creation 200 days ago, or last used 120 days ago')
  t.same(await ids('unusedDays=5'), [oldNever, usedLongAgo, newNever].sort(), 'a key never used counts from its creation')
  t.same(await ids('olderThanDays=90'), [oldUsed, oldNever, usedLongAgo].sort(), 'rotation due, used or not')
  t.same(await ids('olderThanDays=180'), [oldUsed, oldNever].sort())
  t.same(await ids('unusedDays=90&olderThanDays=180'), [oldNever], 'both: each must hold')
  t.equal((await ids('')).length, 5, 'no filter: every key that is not revoked')
  const paged = await list('olderThanDays=90&take=2')
  t.equal(paged.body.items.length, 2)
  const rest = await list(`olderThanDays=90&take=2&cursor=${paged.body.cursor as string}`)
  t.same([...paged.body.items, ...rest.body.items].map((k: { id: string }) => k.id).sort(), [oldUsed, oldNever, usedLongAgo].sort(), 'filters and cursors page together')
  t.notOk(rest.body.cursor)

  await t.test('the same filters on a child\'s keys and, for operators, on any account\'s', async (t) => {
    const childKey = await issueKey(store, { userId: child.id })
    await store.database.query('UPDATE keygate_keys SET created_at = $2 WHERE id = $1', [childKey.id, new Date(now - 100 * DAY_MS)])
    t.same(await ids('olderThanDays=90', `/api/v1/partner/user/${child.id}/token/list`), [childKey.id])
    t.same(await ids('olderThanDays=101', `/api/v1/partner/user/${child.id}/token/list`), [])
    const refused = await list('olderThanDays=90', stranger.headers, `/api/v1/partner/user/${child.id}/token/list`)
    t.equal(refused.status, 404, 'another account\'s child is not found, filter or not')
  })

  await t.test('usageDays: the keys\' daily counts, from the same table as key usage', async (t) => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${base}/v1/forward-auth`, { headers: { ...parent.headers, 'x-forwarded-uri': '/api/v1/bot/list' } })
      t.equal(res.status, 200)
    }
    const refused = await fetch(`${base}/v1/forward-auth`, { headers: { ...parent.headers, 'x-forwarded-uri': '/admin/v1/user/create', 'x-forwarded-method': 'POST' } })
    t.equal(refused.status, 403)
    await server.audit.usage.flush()
    const { status, body } = await list('usageDays=30')
    t.equal(status, 200)
    const own = body.items.find((k: { id: string }) => k.id === parent.keyId)
    const today = new Date().toISOString().slice(0, 10)
    t.match(own.usage, [{ day: today, requests: Number, denied: 1 }])
    t.ok(own.usage[0].requests >= 4, 'every request that authenticated, this list\'s own included')
    t.same(body.items.find((k: { id: string }) => k.id === oldNever).usage, [], 'a key without requests: no days')
    t.notOk('usage' in (await list('')).body.items[0], 'without usageDays, no usage')
  })

  await t.test('bad values are a 400 that names the parameter', async (t) => {
    for (const query of ['unusedDays=0', 'unusedDays=-1', 'unusedDays=ten', 'olderThanDays=1.5', 'olderThanDays=100000', 'usageDays=91', 'usageDays=0', 'unusedDay=3']) {
      const { status, body } = await list(query)
      t.equal(status, 400, query)
      t.match(body.message, /unusedDays|olderThanDays|usageDays|unusedDay|additional/, `${query}: ${String(body.message)}`)
    }
  })
}))
