import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { createAuditMetrics } from '../../src/audit/index.js'
import { createMetrics } from '../../src/server/metrics.js'
import { missing } from '../helpers/requires.js'

const FILE = fileURLToPath(new URL('../../examples/prometheus/alerts.yml', import.meta.url))

interface Rule { alert?: string; record?: string; expr?: unknown; for?: unknown; labels?: Record<string, unknown>; annotations?: Record<string, unknown> }

t.test('examples/prometheus/alerts.yml: valid rule groups on metrics Keygate exports', async (t) => {
  const doc = parse(readFileSync(FILE, 'utf8')) as { groups?: Array<{ name?: unknown; rules?: Rule[] }> }
  t.ok(Array.isArray(doc.groups) && doc.groups.length > 0, 'groups')
  const metrics = createMetrics()
  createAuditMetrics(metrics.registry)
  const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name))
  const names = new Set<string>()
  const groups = new Set<string>()
  for (const group of doc.groups ?? []) {
    t.type(group.name, 'string')
    t.notOk(groups.has(group.name as string), `group ${String(group.name)} is unique`)
    groups.add(group.name as string)
    t.ok(Array.isArray(group.rules) && group.rules.length > 0, `${String(group.name)} has rules`)
    for (const rule of group.rules ?? []) {
      t.match(rule.alert, /^[A-Z][A-Za-z0-9]+$/, 'an alerting rule with a name')
      t.notOk(names.has(rule.alert as string), `${String(rule.alert)} is unique`)
      names.add(rule.alert as string)
      t.type(rule.expr, 'string', `${String(rule.alert)}: expr`)
      if (rule.for !== undefined) t.match(rule.for, /^\d+[smhd]$/, `${String(rule.alert)}: for`)
      t.type(rule.annotations?.summary, 'string', `${String(rule.alert)}: summary`)
      t.match(rule.labels?.severity, /^(info|warning|critical)$/, `${String(rule.alert)}: severity`)
      // Every metric the expression names is one Keygate exports (counters without their _total in the registry).
      for (const [name] of (rule.expr as string).matchAll(/keygate_[a-z_]+/g)) {
        const base = name.replace(/_total$/, '')
        t.ok(exported.has(name) || exported.has(base), `${String(rule.alert)}: ${name} is exported`)
      }
    }
  }
  for (const event of ['revoked_key_presented', 'expired_key_presented', 'unauthenticated_burst', 'impersonation_refused_burst', 'credential_over_plain_http']) {
    t.ok([...(doc.groups ?? [])].some((g) => g.rules?.some((r) => String(r.expr).includes(`event="${event}"`))), `an alert on ${event}`)
  }
})

t.test('promtool check rules', async (t) => {
  if (missing(t, 'promtool')) return
  t.doesNotThrow(() => execFileSync('promtool', ['check', 'rules', FILE], { stdio: 'pipe' }))
})
