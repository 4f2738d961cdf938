// Figure 10. The audit API's queries at volume, and retention: N entries
// (default 10,000,000; --small 1,000,000; --entries N) spread over 30 UTC days
// in a throwaway database, made in SQL in the shape Keygate writes (compact
// text entry, input by hash; 1,000 keys, 2,000 users, 5 % impersonated, 10 %
// 401, 5 % 403, 0.1 % security events). Then 200 calls each of
// AuditStore.list by decision id, by key, by user (subject or actor), and by a
// one-hour time range plus status 403, each on a random target; then the
// retention of one day (the oldest), timed.
//
//   node bench/audit-volume.js [--small] [--entries N] [--keep] [--reuse URL]
//   --keep: the database is left, its URL printed; --reuse URL: a database kept
//   before, whose days already loaded are not loaded again (the load of
//   10,000,000 entries takes a long time; the queries can then be measured
//   again on a quiet machine). The retention step drops the oldest day: a
//   later --reuse loads that day again.
import { parseArgs } from 'node:util'
import pg from 'pg'
import { AuditStore } from '../dist/audit/store.js'
import { openStore } from '../dist/index.js'
import { throwawayDatabase } from './lib/db.js'
import { log, report, round } from './lib/report.js'
import { percentile } from './lib/stats.js'

const { values } = parseArgs({ options: { small: { type: 'boolean', default: false }, entries: { type: 'string' }, keep: { type: 'boolean', default: false }, reuse: { type: 'string' } } })
const N = Number(values.entries ?? (values.small ? 1_000_000 : 10_000_000))
const DAYS = 30
const CALLS = 200
const DAY_MS = 86_400_000

const db = values.reuse === undefined ? await throwawayDatabase('volume') : { url: values.reuse, drop: async () => {} }
const client = new pg.Client({ connectionString: db.url })
let store
try {
  store = await openStore({ databaseUrl: db.url })
  await client.connect()
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate())
  const first = today - (DAYS - 1) * DAY_MS
  const perDay = Math.ceil(N / DAYS)
  const started = performance.now()
  let loadedDays = 0
  for (let d = 0; d < DAYS; d++) {
    const day = new Date(first + d * DAY_MS).toISOString().slice(0, 10)
    if (values.reuse !== undefined) {
      const { n } = (await client.query(`SELECT count(*)::int AS n FROM keygate_decision_log
        WHERE "timestamp" >= $1::date AND "timestamp" < $1::date + 1`, [day])).rows[0]
      if (n >= perDay) continue
      if (n > 0) throw new Error(`${day} holds ${n} entries, not ${perDay}: use a new database`)
    }
    await client.query('SELECT keygate_decision_log_partition($1::date)', [day])
    await client.query(`INSERT INTO keygate_decision_inputs (day, hash, input)
      SELECT $1::date, 'h' || lpad(k::text, 21, '0'), '{"version":2,"now":0,"request":{"method":"POST","path":"/api/v1/bot/bot_' || k || '/update","scheme":"https"},"credential":{"type":"secret_key","found":true,"id":"key_' || lpad(k::text, 20, '0') || '"}}'
      FROM generate_series(0, 999) AS k`, [day])
    // Columns derived from g: key g % 1000, subject g % 2000, actor on 5 %, status by g % 20.
    await client.query(`INSERT INTO keygate_decision_log ("timestamp", id, kind, event, decision_id, status, code, credential_type,
        key_id, key_prefix, subject, actor, client_address, reason_codes, input_hash, entry)
      SELECT ts, id, kind, CASE WHEN kind = 'security' THEN 'revoked_key_presented' END, id, status,
        CASE status WHEN 200 THEN 'OK' WHEN 401 THEN 'NOT_AUTHENTICATED' ELSE 'NOT_AUTHORIZED' END, 'secret_key',
        'key_' || lpad((g % 1000)::text, 20, '0'), 'sk-AbC123', 'usr_' || lpad((g % 2000)::text, 20, '0'),
        CASE WHEN g % 20 = 7 THEN 'usr_' || lpad(((g + 1) % 2000)::text, 20, '0') END, '203.0.113.' || (g % 250),
        CASE status WHEN 403 THEN ARRAY['scope_insufficient'] ELSE '{}' END,
        CASE WHEN kind = 'decision' THEN 'h' || lpad((g % 1000)::text, 21, '0') END,
        '{"kind":"' || kind || '","id":"' || id || '","decision_id":"' || id || '","timestamp":"' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') ||
        '","path":"keygate/authz/decision","input":{"now":' || (extract(epoch FROM ts) * 1000)::bigint ||
        '},"result":{"allow":' || (status = 200) || ',"status":' || status || ',"code":"OK","reasons":[],"subject":null,"actor":null,"action":{"resource":"bot","verb":"update","class":"write"}},' ||
        '"bundles":{"keygate":{"revision":"3abdafba309c9c1b"}},"metrics":{"timer_keygate_authorize_ns":41000},"status":' || status ||
        ',"code":"OK","credential_type":"secret_key","key_id":"key_' || lpad((g % 1000)::text, 20, '0') || '","key_prefix":"sk-AbC123","subject":"usr_' ||
        lpad((g % 2000)::text, 20, '0') || '","actor":null,"impersonated":false,"client_address":"203.0.113.1","reason_codes":[],' ||
        '"request":{"method":"POST","path":"/api/v1/bot/bot_1/update","scheme":"https"}}'
      FROM (
        SELECT g, $1::timestamptz + (g::float8 / $2) * interval '1 day' AS ts, md5(g::text || $1)::uuid::text AS id,
          CASE WHEN g % 1000 = 3 THEN 'security' ELSE 'decision' END AS kind,
          CASE WHEN g % 20 IN (1, 2) THEN 401 WHEN g % 20 = 3 THEN 403 ELSE 200 END::smallint AS status
        FROM generate_series(0, $2 - 1) AS g
      ) AS s`, [`${day}T00:00:00Z`, perDay])
    loadedDays++
    log(`day ${d + 1}/${DAYS}: ${((d + 1) * perDay).toLocaleString('en')} entries, ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
  if (loadedDays > 0) {
    await client.query('ANALYZE keygate_decision_log')
    await client.query('ANALYZE keygate_decision_inputs')
  }
  const size = (await client.query("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS s FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'keygate_decision_log'::regclass")).rows[0].s
  log(`loaded ${(perDay * DAYS).toLocaleString('en')} entries in ${((performance.now() - started) / 1000).toFixed(0)} s, ${size}`)

  const audit = new AuditStore(store.database)
  const ids = (await client.query(`SELECT decision_id FROM keygate_decision_log TABLESAMPLE SYSTEM (0.1) LIMIT ${CALLS}`)).rows.map((r) => r.decision_id)
  const pick = (n) => Math.floor(Math.random() * n)
  const queries = {
    'by decision id': (i) => ({ decisionId: ids[i % ids.length] }),
    'by key, newest first': () => ({ keyId: `key_${String(pick(1000)).padStart(20, '0')}` }),
    'by user (subject or actor)': () => ({ userId: `usr_${String(pick(2000)).padStart(20, '0')}` }),
    'by one hour plus status 403': () => {
      const from = first + pick(DAYS * 24 - 1) * 3_600_000
      return { from: new Date(from), to: new Date(from + 3_600_000), status: 403 }
    }
  }
  const rows = []
  for (const [name, filter] of Object.entries(queries)) {
    const times = []
    let items = 0
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now()
      const page = await audit.list(filter(i))
      times.push(performance.now() - t0)
      items += page.items.length
    }
    const p99 = percentile(times, 99)
    log(`${name}: p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ${(items / CALLS).toFixed(1)} entries a page`)
    rows.push({ figure: 10, name: `audit query ${name}, ${(perDay * DAYS).toLocaleString('en')} entries (${DAYS} daily partitions, ${size})`, value: round(p99, 1), unit: 'ms p99', p50: `${round(percentile(times, 50), 1)} ms`, target: '≤ 50 ms', met: p99 <= 50, note: `${CALLS} calls, ${round(items / CALLS, 1)} entries a page` })
  }
  const t0 = performance.now()
  const dropped = await audit.deleteOlderThan(new Date(first + DAY_MS))
  const pruneMs = performance.now() - t0
  log(`retention of one day: ${dropped.toLocaleString('en')} entries in ${pruneMs.toFixed(0)} ms`)
  rows.push({ figure: 10, name: `retention: one day (${dropped.toLocaleString('en')} entries) of ${(perDay * DAYS).toLocaleString('en')} dropped (keygate audit prune)`, value: round(pruneMs), unit: 'ms', note: 'DROP TABLE of the day\'s partitions, after counting its rows' })
  report('audit-volume', rows, { entries: perDay * DAYS, days: DAYS, calls: CALLS, size })
} finally {
  await client.end().catch(() => {})
  await store?.close()
  if (values.keep || values.reuse !== undefined) log(`kept ${db.url}`)
  else await db.drop()
}
