import t from 'tap'
import { expiresWithinSecond, SecondCache } from '../../src/lib/second-cache.js'

const T = Date.UTC(2030, 0, 1, 12, 0, 0)

t.test('answers within the second it was given, oldest evicted first', async (t) => {
  const cache = new SecondCache<number>(2)
  cache.set('a', 1, T + 10)
  cache.set('b', 2, T + 20)
  t.equal(cache.get('a', T + 999), 1)
  t.equal(cache.get('a', T + 1000), undefined, 'not in the next second')
  t.equal(cache.get('a', T - 1), undefined, 'nor the one before')
  cache.set('c', 3, T + 30)
  t.equal(cache.get('a', T + 40), undefined, 'evicted')
  t.same([cache.get('b', T + 40), cache.get('c', T + 40), cache.size], [2, 3, 2])
  cache.set('d', 4, T + 1000)
  t.equal(cache.size, 1, 'a set in another second drops the old one')
  cache.clear()
  t.same([cache.get('d', T + 1000), cache.size], [undefined, 0])
})

t.test('size 0 keeps nothing', async (t) => {
  const cache = new SecondCache<number>(0)
  t.equal(cache.enabled, false)
  cache.set('a', 1, T)
  t.equal(cache.get('a', T), undefined)
})

t.test('expiresWithinSecond: after the start of the second of now, before its end', async (t) => {
  t.equal(expiresWithinSecond(T + 500, T + 100), true)
  t.equal(expiresWithinSecond(T + 999, T), true)
  t.equal(expiresWithinSecond(T, T + 100), false, 'at the very start: expired for all of it')
  t.equal(expiresWithinSecond(T + 1000, T + 100), false, 'holds to the end')
  t.equal(expiresWithinSecond(null, T), false)
  t.equal(expiresWithinSecond(undefined, T), false)
})
