import t, { type Test } from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { createTestDatabase, testDatabases, testServerUrl } from '../helpers/databases.js'
import { migrate, MIGRATIONS_DIR, openDatabase, type Database } from '../../src/store/index.js'

const shipped = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort().map((f) => f.slice(0, -4))

const folder = (t: Test, files: Record<string, string>): URL => pathToFileURL(`${t.testdir(files)}/`)

async function recorded (db: Database): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>('SELECT name FROM keygate_migrations ORDER BY name')
  return rows.map((r) => r.name)
}

for (const driver of testDatabases()) {
  t.test(driver.name, async (t) => {
    t.test('applies every shipped migration once, in order', async (t) => {
      const db = await driver.open(t)
      t.ok(shipped.length > 0)
      t.same(await migrate(db), shipped)
      t.same(await migrate(db), [], 'nothing left the second time')
      t.same(await recorded(db), shipped)
    })

    t.test('005 gives existing rows their canonical e-mail: ASCII letters lower-cased, nothing else folded', async (t) => {
      const db = await driver.open(t)
      const before = Object.fromEntries(readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql') && f < '005')
        .map((f) => [f, readFileSync(new URL(f, MIGRATIONS_DIR), 'utf8')]))
      await migrate(db, { directory: folder(t, before) })
      await db.query(`INSERT INTO keygate_users (id, email) VALUES
        ('usr_00000000000000000001', 'Kid@Example.COM'), ('usr_00000000000000000002', E'\\u212Aelvin@example.com'), ('usr_00000000000000000003', E'\\u0130van@example.com')`)
      t.same(await migrate(db), shipped.filter((name) => name >= '005'))
      const { rows } = await db.query<{ id: string; email_canonical: string }>('SELECT id, email_canonical FROM keygate_users ORDER BY id')
      t.same(rows.map((r) => r.email_canonical), ['kid@example.com', '\u212aelvin@example.com', '\u0130van@example.com'])
      const columns = await db.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'keygate_users' AND column_name LIKE 'email%' ORDER BY 1")
      t.same(columns.rows.map((r) => r.column_name), ['email', 'email_canonical'], 'the lossy generated column is gone')
    })

    t.test('012 gives the days made before it their templates partition; their long rows read back as before', async (t) => {
      const db = await driver.open(t)
      const before = Object.fromEntries(readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql') && f < '012')
        .map((f) => [f, readFileSync(new URL(f, MIGRATIONS_DIR), 'utf8')]))
      await migrate(db, { directory: folder(t, before) })
      await db.query("SELECT keygate_decision_log_partition('2030-01-01'), keygate_decision_log_partition('2030-01-02')")
      await db.query(`INSERT INTO keygate_decision_log ("timestamp", id, kind, decision_id, status, entry)
        VALUES ('2030-01-01T10:00:00Z', 'd1', 'decision', 'd1', 200, '{"kind":"decision","id":"d1","n":1}')`)
      t.same(await migrate(db), shipped.filter((name) => name >= '012'))
      const { rows } = await db.query<{ name: string }>(
        "SELECT relname AS name FROM pg_class WHERE relkind = 'r' AND relname LIKE 'keygate_decision_templates_p%' ORDER BY relname")
      t.same(rows.map((r) => r.name), ['keygate_decision_templates_p20300101', 'keygate_decision_templates_p20300102'])
      const view = await db.query<{ entry: unknown }>("SELECT entry FROM keygate_decisions WHERE id = 'd1'")
      t.same(view.rows.map((r) => r.entry), [{ kind: 'decision', id: 'd1', n: 1 }])
    })

    t.test('only the new ones, and a changed one is an error', async (t) => {
      const db = await driver.open(t)
      const first = { '001_a.sql': 'CREATE TABLE a (x int);' }
      t.same(await migrate(db, { directory: folder(t, first) }), ['001_a'])
      const second = { ...first, '002_b.sql': 'CREATE TABLE b (x int);\nINSERT INTO b VALUES (1);\n' }
      t.same(await migrate(db, { directory: folder(t, second) }), ['002_b'])
      t.same(await migrate(db, { directory: folder(t, second) }), [], 'same content')
      t.same(await migrate(db, { directory: folder(t, { ...second, '002_b.sql': second['002_b.sql'].replace(/\n/g, '\r\n') }) }), [],
        'line endings do not count')
      await t.rejects(migrate(db, { directory: folder(t, { ...second, '001_a.sql': 'CREATE TABLE a (x bigint);' }) }),
        { name: 'Error', message: /^migration 001_a was changed after it was applied/ })
    })

    t.test('a failing migration applies nothing', async (t) => {
      const db = await driver.open(t)
      const files = {
        '001_good.sql': 'CREATE TABLE good (x int);',
        '002_bad.sql': 'CREATE TABLE bad (x int);\nSELECT no_such_function();'
      }
      await t.rejects(migrate(db, { directory: folder(t, files) }), { code: '42883' })
      const { rows } = await db.query("SELECT to_regclass('good') IS NULL AS gone, to_regclass('keygate_migrations') IS NULL AS none")
      t.same(rows, [{ gone: true, none: true }])
    })

    t.test('file names are checked', async (t) => {
      const db = await driver.open(t)
      await t.rejects(migrate(db, { directory: folder(t, { '1_a.sql': '' }) }), /expected NNN_lower_case_name\.sql/)
      await t.rejects(migrate(db, { directory: folder(t, { '001_a.sql': '', '001_b.sql': '' }) }), /another migration is numbered 001/)
      t.same(await migrate(db, { directory: folder(t, { '001_a.sql': 'SELECT 1;', 'README.md': 'ignored' }) }), ['001_a'])
    })

    t.test('migrators racing on one database each apply nothing twice', async (t) => {
      // On pg each racer has its own pool, like separate instances; PGlite's single connection queues them.
      let racers: Database[]
      if (driver.name === 'pg') {
        const url = await createTestDatabase(t)
        racers = await Promise.all([1, 2, 3].map(async () => await openDatabase({ databaseUrl: url })))
        t.teardown(async () => { await Promise.all(racers.map(async (db) => { await db.close() })) })
      } else {
        const db = await driver.open(t)
        racers = [db, db, db]
      }
      const results = await Promise.all(racers.map(async (db) => await migrate(db)))
      t.same(results.flat().sort(), shipped, 'each migration applied by exactly one racer')
      t.same(await recorded(racers[0] as Database), shipped)
    })
  })
}

t.test('pg is covered too when a server is configured', async (t) => {
  t.equal(testDatabases().some((d) => d.name === 'pg'), testServerUrl !== undefined)
})
