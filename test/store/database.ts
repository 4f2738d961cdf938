import t from 'tap'
import { testDatabases } from '../helpers/databases.js'
import { until } from '../helpers/until.js'
import { StoreError } from '../../src/store/index.js'

for (const driver of testDatabases()) {
  t.test(driver.name, async (t) => {
    t.test('both drivers return the same JS types', async (t) => {
      const db = await driver.open(t)
      const { rows } = await db.query(`SELECT
        '2030-01-02T03:04:05.678Z'::timestamptz AS at, NULL::timestamptz AS never,
        '\\x00ff10'::bytea AS bytes, $1::bytea AS param_bytes,
        ARRAY['b', 'a'] AS flags, '{}'::text[] AS no_flags, NULL::text[] AS no_array,
        42::int8 AS small, 9007199254740993::int8 AS big, count(*) AS counted,
        true AS yes, 1.5::numeric AS decimal, '{"a": [1]}'::jsonb AS doc`, [Buffer.from('hi')])
      t.same(rows, [{
        at: new Date('2030-01-02T03:04:05.678Z'),
        never: null,
        bytes: Buffer.from([0, 255, 16]),
        param_bytes: Buffer.from('hi'),
        flags: ['b', 'a'],
        no_flags: [],
        no_array: null,
        small: 42,
        big: 9007199254740993n,
        counted: 1,
        yes: true,
        decimal: '1.5',
        doc: { a: [1] }
      }])
      t.ok(Buffer.isBuffer(rows[0]?.bytes), 'bytea is a Buffer, not a bare Uint8Array')
    })

    t.test('query runs one statement; exec runs a script', async (t) => {
      const db = await driver.open(t)
      await t.rejects(db.query('SELECT 1; SELECT 2'))
      await db.exec('CREATE TABLE s (x int); INSERT INTO s VALUES (1); INSERT INTO s VALUES (2);')
      t.same((await db.query('SELECT sum(x)::int AS total FROM s')).rows, [{ total: 3 }])
      const error = await db.query('SELECT 1/0').catch((e: unknown) => e)
      t.match(error, { code: '22012' })
      t.notOk(error instanceof StoreError, 'an SQL error stays an SQL error')
    })

    t.test('transactions commit, or roll back and rethrow', async (t) => {
      const db = await driver.open(t)
      await db.exec('CREATE TABLE s (x int)')
      t.equal(await db.transaction(async (tx) => {
        await tx.query('INSERT INTO s VALUES ($1)', [1])
        await tx.exec('INSERT INTO s VALUES (2); INSERT INTO s VALUES (3);')
        return 'done'
      }), 'done')
      const boom = new Error('boom')
      t.equal(await db.transaction(async (tx) => {
        await tx.query('INSERT INTO s VALUES (4)')
        throw boom
      }).catch((e: unknown) => e), boom, "fn's own error, as it is")
      await t.rejects(db.transaction(async (tx) => { await tx.query('INSERT INTO s VALUES (5), (1/0)') }), { code: '22012' })
      t.same((await db.query('SELECT array_agg(x ORDER BY x) AS xs FROM s')).rows, [{ xs: [1, 2, 3] }])
    })

    t.test('a query made while a transaction is open is not part of it', async (t) => {
      const db = await driver.open(t)
      await db.exec('CREATE TABLE s (x int)')
      let outside: Promise<unknown> = Promise.resolve()
      await t.rejects(db.transaction(async (tx) => {
        await tx.query('INSERT INTO s VALUES (1)')
        // PGlite has a single connection: this must wait for the transaction, not join it.
        outside = db.query('INSERT INTO s VALUES (2)')
        await new Promise((resolve) => setTimeout(resolve, 50))
        throw new Error('roll back')
      }))
      await outside
      t.same((await db.query('SELECT array_agg(x) AS xs FROM s')).rows, [{ xs: [2] }])
    })

    t.test('listen delivers notifications until unsubscribed', async (t) => {
      const errors: Error[] = []
      const db = await driver.open(t, { onError: (error) => errors.push(error) })
      const got: string[] = []
      const other: string[] = []
      const stop = await db.listen('kg_test', (payload) => got.push(payload))
      await db.listen('kg_other', (payload) => other.push(payload))
      const stopThrowing = await db.listen('kg_test', () => { throw new Error('subscriber bug') })
      await db.query("SELECT pg_notify('kg_test', 'one')")
      await db.transaction(async (tx) => { await tx.query("SELECT pg_notify('kg_test', 'two')") })
      await db.transaction(async (tx) => {
        await tx.query("SELECT pg_notify('kg_test', 'rolled back')")
        throw new Error('roll back')
      }).catch(() => {})
      await db.query("SELECT pg_notify('kg_test', '')")
      await until(() => got.length >= 3)
      t.same(got, ['one', 'two', ''], 'committed ones only, in order')
      t.same(other, [])
      t.match(errors, [{ message: 'subscriber bug' }, { message: 'subscriber bug' }, { message: 'subscriber bug' }],
        'a throwing subscriber is reported, and others still get the payload')

      await stop()
      await stopThrowing()
      await db.query("SELECT pg_notify('kg_test', 'after')")
      await db.query("SELECT pg_notify('kg_other', 'marker')")
      await until(() => other.length === 1)
      t.same(got, ['one', 'two', ''], 'nothing after unsubscribing')
      await t.rejects(db.listen('Bad-Channel', () => {}), TypeError)
    })

    t.test('a closed database is unavailable', async (t) => {
      const db = await driver.open(t)
      await db.close()
      await db.close()
      await t.rejects(db.query('SELECT 1'), { name: 'StoreUnavailableError', code: 'STORE_UNAVAILABLE' })
      await t.rejects(db.transaction(async () => {}), { code: 'STORE_UNAVAILABLE' })
    })
  })
}
