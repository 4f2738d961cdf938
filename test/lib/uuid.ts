import t from 'tap'
import { uuidV7 } from '../../src/lib/uuid.js'

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('a UUIDv7: version 7, RFC 9562 variant, the time in ms in its first 48 bits', async (t) => {
  const before = Date.now()
  const id = uuidV7()
  const after = Date.now()
  t.match(id, V7)
  const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
  t.ok(ms >= before && ms <= after, 'the time it was made')
})

t.test('ids made later sort later; none repeats', async (t) => {
  const ids: string[] = []
  const until = Date.now() + 25
  while (Date.now() < until) ids.push(uuidV7())
  t.equal(new Set(ids).size, ids.length, `${ids.length} distinct`)
  t.ok(ids.every((id) => V7.test(id)))
  const prefixes = ids.map((id) => id.slice(0, 13))
  t.same(prefixes, [...prefixes].sort(), 'in order, to the millisecond')
  t.ok(new Set(prefixes).size > 5, 'across milliseconds')
})
