import { randomBytes } from 'node:crypto'
import t from 'tap'
import { Sessions, type SessionOptions } from '../../src/sessions/index.js'
import type { Database } from '../../src/store/index.js'

const db = { query: async () => ({ rows: [] }), transaction: async () => {}, listen: async () => async () => {} } as unknown as Database

t.test('options are checked once, at construction', async (t) => {
  const base: SessionOptions = { db, secret: randomBytes(32) }
  t.ok(new Sessions(base))
  const bad: Array<[string, Partial<SessionOptions>]> = [
    ['db', { db: {} as Database }],
    ['secret', { secret: randomBytes(16) }],
    ['secret', { secret: 'x'.repeat(32) as unknown as Buffer }],
    ['issuer', { issuer: '' }],
    ['audience', { audience: 42 as unknown as string }],
    ['defaultDurationSeconds', { defaultDurationSeconds: 0 }],
    ['maxDurationSeconds', { maxDurationSeconds: 1.5 }],
    ['maxDurationSeconds', { maxDurationSeconds: 31 * 86_400 }],
    ['defaultDurationSeconds must not exceed', { defaultDurationSeconds: 7200, maxDurationSeconds: 3600 }],
    ['clockToleranceSeconds', { clockToleranceSeconds: -1 }],
    ['maxTokenLength', { maxTokenLength: 100 }],
    ['cache.max', { cache: { max: 0 } }],
    ['keyRefreshMs', { keyRefreshMs: 10 }],
    ['clock', { clock: 5 as unknown as () => number }]
  ]
  for (const [name, override] of bad) {
    t.throws(() => new Sessions({ ...base, ...override }), { name: 'TypeError', message: new RegExp(name.replace('.', '\\.')) }, name)
  }
})
