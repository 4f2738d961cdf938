import t from 'tap'
import { LookupCache, type LookupCacheOptions } from '../../src/principal/lib/lookup-cache.js'
import { StoreUnavailableError } from '../../src/store/errors.js'
import { fakeClock } from '../helpers/clock.js'

const options: LookupCacheOptions = { max: 100, ttlMs: 50, negativeTtlMs: 50, staleIfErrorMs: 10_000, maxPending: 2 }
const later = (): number => performance.now() + 1_000
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const down = async (): Promise<never> => { throw new StoreUnavailableError('store unavailable: test') }

function deferred<T> (): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((_resolve) => { resolve = _resolve })
  return { promise, resolve }
}

t.test('concurrent misses on one key share one store query', async (t) => {
  const cache = new LookupCache<string>(options)
  let queries = 0
  const answer = deferred<string>()
  const load = async (): Promise<string> => { queries++; return await answer.promise }
  const all = Promise.all([cache.get('k', load, later()), cache.get('k', load, later()), cache.get('k', load, later())])
  answer.resolve('v')
  t.same(await all, ['v', 'v', 'v'])
  t.equal(queries, 1)
  t.equal(await cache.get('k', load, later()), 'v', 'then cached')
  t.equal(queries, 1)
})

t.test('a lookup that overlapped a delete is answered but not cached (it may predate the change)', async (t) => {
  const cache = new LookupCache<string>(options)
  const answer = deferred<string>()
  const pending = cache.get('k', async () => await answer.promise, later())
  cache.delete('k') // the notification of a revocation arrives while the query runs
  answer.resolve('before the change')
  t.equal(await pending, 'before the change')
  t.equal(cache.peek('k'), undefined, 'not cached')
  t.equal(await cache.get('k', async () => 'after the change', later()), 'after the change')
})

t.test('suspended (changes could go unheard): holds nothing, serves nothing stale, caches again once resumed', async (t) => {
  const cache = new LookupCache<string>(options)
  t.equal(await cache.get('k', async () => 'v', later()), 'v')
  cache.suspend()
  t.equal(cache.size, 0, 'emptied')
  await t.rejects(cache.get('k', down, later()), StoreUnavailableError, 'the store down: nothing stale to serve')
  let queries = 0
  const load = async (): Promise<string> => { queries++; return 'v' }
  t.equal(await cache.get('k', load, later()), 'v')
  t.equal(await cache.get('k', load, later()), 'v')
  t.equal(queries, 2, 'every lookup asks the store')
  t.equal(cache.peek('k'), undefined)
  cache.offer('k', 'v', cache.generation)
  t.equal(cache.peek('k'), undefined, 'nor is a value offered kept')
  cache.resume()
  await cache.get('k', load, later())
  await cache.get('k', load, later())
  t.equal(queries, 3, 'resumed: cached again')
})

t.test('stale-if-error: a found value past its TTL while the store fails', async (t) => {
  const stale: string[] = []
  const cache = new LookupCache<string>({ ...options, onStale: () => { stale.push('k') } })
  t.equal(await cache.get('k', async () => 'v', later()), 'v')
  t.equal(await cache.get('gone', async () => null, later()), null)
  await sleep(60)
  t.equal(await cache.get('k', down, later()), 'v', 'served stale')
  t.same(stale, ['k'])
  await t.rejects(cache.get('gone', down, later()), StoreUnavailableError, '"not found" is never served stale')
  await t.rejects(cache.get('never', down, later()), StoreUnavailableError, 'nothing cached: unavailable')
  cache.delete('k')
  await t.rejects(cache.get('k', down, later()), StoreUnavailableError, 'a dropped entry is gone for good')
  await t.rejects(cache.get('x', async () => { throw new TypeError('a bug') }, later()), TypeError, 'a bug is not an outage')

  const none = new LookupCache<string>({ ...options, staleIfErrorMs: 0 })
  await none.get('k', async () => 'v', later())
  await sleep(60)
  await t.rejects(none.get('k', down, later()), StoreUnavailableError, 'staleIfErrorMs 0: never stale')
})

t.test('the deadline: a store that does not answer is unavailable, and stale applies', async (t) => {
  const cache = new LookupCache<string>({ ...options, ttlMs: 1 })
  await cache.get('k', async () => 'v', later())
  await sleep(5)
  const hang = async (): Promise<string> => await new Promise(() => {})
  t.equal(await cache.get('k', hang, performance.now() + 50), 'v', 'stale once the deadline passed')
  await t.rejects(cache.get('other', hang, performance.now() + 20), { name: 'StoreUnavailableError', message: /deadline/ })
  await t.rejects(cache.get('late', hang, performance.now() - 1), StoreUnavailableError, 'already past the deadline')
})

t.test('at most maxPending distinct lookups wait for the store', async (t) => {
  const cache = new LookupCache<string>(options)
  const answer = deferred<string>()
  const a = cache.get('a', async () => await answer.promise, later())
  const b = cache.get('b', async () => await answer.promise, later())
  await t.rejects(cache.get('c', async () => 'c', later()), { name: 'StoreUnavailableError', message: /already wait/ })
  answer.resolve('v')
  t.same(await Promise.all([a, b]), ['v', 'v'])
  t.equal(await cache.get('c', async () => 'c', later()), 'c', 'room again')
})

t.test('dispose: when a key leaves the cache, not when its entry is refreshed', async (t) => {
  const disposed: string[] = []
  const cache = new LookupCache<string>({ ...options, ttlMs: 1, dispose: (value, key) => { disposed.push(`${key}=${String(value)}`) } })
  await cache.get('k', async () => 'v1', later())
  await sleep(5)
  t.equal(await cache.get('k', async () => 'v2', later()), 'v2', 'refreshed after its TTL')
  t.same(disposed, [], 'a refresh is not a departure')
  cache.delete('k')
  t.same(disposed, ['k=v2'])
  const answer = deferred<string>()
  const pending = cache.get('raced', async () => await answer.promise, later())
  cache.clear()
  answer.resolve('r')
  await pending
  t.same(disposed, ['k=v2', 'raced=r'], 'a value not admitted is disposed of')
})

t.test('AccountDirectory.fresh: a cached "not found" is an answer, counted once', async (t) => {
  const { AccountDirectory } = await import('../../src/principal/accounts.js')
  let queries = 0
  const directory = new AccountDirectory({
    findUserById: async () => { queries++; return null },
    findChildByEmail: async () => null
  }, { max: 10, ttlMs: 60_000, negativeTtlMs: 5_000, staleIfErrorMs: 0, maxPendingLookups: 10 })
  t.equal(directory.fresh('usr_00000000000000000001'), undefined, 'unknown to the cache')
  t.equal(await directory.byId('usr_00000000000000000001'), null)
  t.equal(directory.fresh('usr_00000000000000000001'), null, 'known not to exist')
  t.equal(queries, 1)
  t.same(directory.stats().accounts, { hits: 1, misses: 1, size: 1 })
})

t.test('stale-if-error with the defaults: served up to 30 s past the 60 s TTL, not a millisecond more', async (t) => {
  const { DEFAULT_CACHE } = await import('../../src/authorizer/options.js')
  t.match(DEFAULT_CACHE, { ttlMs: 60_000, staleIfErrorMs: 30_000 }, 'the defaults docs/operations.md promises')
  const clock = fakeClock(t)
  const cache = new LookupCache<string>({ ...options, ttlMs: DEFAULT_CACHE.ttlMs, staleIfErrorMs: DEFAULT_CACHE.staleIfErrorMs })
  const deadline = (): number => performance.now() + 1_000
  t.equal(await cache.get('k', async () => 'v', deadline()), 'v')
  clock.advance(60_000 + 30_000 - 1)
  t.equal(await cache.get('k', down, deadline()), 'v', '29.999 s past its TTL: served stale')
  clock.advance(1)
  await t.rejects(cache.get('k', down, deadline()), StoreUnavailableError, '30 s past its TTL: unavailable')
})
