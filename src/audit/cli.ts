import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createAuthorizer } from '../authorizer/authorizer.js'
import { DEFAULT_BUNDLE_PATH } from '../policy/engine.js'
import { sessionSettingsFromEnvironment } from '../sessions/environment.js'
import { Sessions } from '../sessions/sessions.js'
import type { Store } from '../store/index.js'
import { optional, parseCommand, print, storeLocation, table, UsageError, withStore, type CliIo, type Values } from '../cli/args.js'
import type { LogEntry } from './entry.js'
import { explainRecord, opaExplain, RuleIndex, type Explanation } from './explain.js'
import { maskText } from './mask.js'
import { AuditStore, type AuditFilter } from './store.js'

/** `keygate audit [prune] …` */
export async function auditCommand (argv: string[], io: CliIo): Promise<number> {
  if (argv[0] === 'prune') {
    const { values } = parseCommand(argv.slice(1), { 'older-than-days': { type: 'string' } })
    const days = integer('older-than-days', optional(values, 'older-than-days') ?? io.env.KEYGATE_DECISION_LOG_RETENTION_DAYS?.trim() ?? '30', 1)
    const before = new Date(Date.now() - days * 86_400_000)
    const deleted = await withStore(values, io, async (store) => await new AuditStore(store.database).deleteOlderThan(before))
    print(io, values, { deleted, before: before.toISOString() }, () => `deleted ${deleted} decision-log rows older than ${before.toISOString()}`)
    return 0
  }
  const { values } = parseCommand(argv, {
    'decision-id': { type: 'string' },
    'user-id': { type: 'string' },
    'key-id': { type: 'string' },
    status: { type: 'string' },
    kind: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    cursor: { type: 'string' },
    take: { type: 'string' }
  })
  const status = optional(values, 'status')
  if (status !== undefined && !['200', '400', '401', '403', '503'].includes(status)) throw new UsageError('--status takes 200, 400, 401, 403 or 503')
  const kind = optional(values, 'kind')
  if (kind !== undefined && kind !== 'decision' && kind !== 'security') throw new UsageError('--kind takes decision or security')
  const take = optional(values, 'take')
  const filter: AuditFilter = {
    decisionId: optional(values, 'decision-id'),
    userId: optional(values, 'user-id'),
    keyId: optional(values, 'key-id'),
    status: status === undefined ? undefined : Number(status),
    kind,
    from: time('from', optional(values, 'from')),
    to: time('to', optional(values, 'to')),
    cursor: optional(values, 'cursor'),
    take: take === undefined ? undefined : integer('take', take, 1)
  }
  const page = await withStore(values, io, async (store) => await new AuditStore(store.database).list(filter))
  print(io, values, { items: page.items, nextCursor: page.nextCursor }, () => table(
    ['TIME', 'KIND', 'STATUS', 'SUBJECT', 'ACTOR', 'KEY', 'REQUEST', 'REASONS / EVENT'],
    page.items.map(row),
    page.nextCursor))
  return 0
}

/** `keygate key usage KEY_ID [--days N]` */
export async function keyUsageCommand (argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, { days: { type: 'string' } }, 1)
  const keyId = positionals[0] as string
  const days = integer('days', optional(values, 'days') ?? '30', 1)
  const since = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10)
  const report = await withStore(values, io, async (store) => await new AuditStore(store.database).keyUsage(keyId, since))
  if (report === null) {
    io.stderr.write(`keygate: no such key: ${keyId}\n`)
    return 1
  }
  const json = {
    id: report.keyId,
    lastUsedAt: report.lastUsedAt?.toISOString() ?? null,
    requestCount: report.requests,
    days: report.days.map((d) => ({ day: d.day, requests: d.requests, denied: d.denied, lastUsedAt: d.lastUsedAt.toISOString() }))
  }
  print(io, values, json, () => [
    `${report.keyId}: ${report.requests} requests, last used ${report.lastUsedAt?.toISOString() ?? 'never'}`,
    table(['DAY (UTC)', 'REQUESTS', 'DENIED', 'LAST USED'], json.days.map((d) => [d.day, String(d.requests), String(d.denied), d.lastUsedAt]), null)
  ].join('\n'))
  return 0
}

/** `keygate policy explain --method M --path P --header 'Name: value'… [--scheme] [--trace]` */
export async function policyExplainCommand (argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(argv, {
    method: { type: 'string' },
    path: { type: 'string' },
    header: { type: 'string', short: 'H', multiple: true },
    scheme: { type: 'string' },
    bundle: { type: 'string' },
    trace: { type: 'boolean', default: false }
  })
  const method = optional(values, 'method') ?? 'GET'
  if (!/^[A-Za-z]{1,20}$/.test(method)) throw new UsageError('--method takes an HTTP method')
  const path = optional(values, 'path')
  if (path === undefined || path === '') throw new UsageError('--path is required')
  const scheme = optional(values, 'scheme') ?? 'https'
  if (scheme !== 'http' && scheme !== 'https') throw new UsageError('--scheme takes http or https')
  const headers: Record<string, string[]> = {}
  for (const header of (values.header as string[] | undefined) ?? []) {
    const colon = header.indexOf(':')
    if (colon < 1) throw new UsageError(`--header takes 'Name: value', got ${JSON.stringify(maskText(header))}`)
    const name = header.slice(0, colon).trim().toLowerCase()
    ;(headers[name] ??= []).push(header.slice(colon + 1).trim())
  }
  const bundle = optional(values, 'bundle') ?? (io.env.KEYGATE_POLICY_BUNDLE?.trim() || DEFAULT_BUNDLE_PATH)
  const location = storeLocation(values, io)

  const explanation = await withStore(values, io, async (store) => {
    const sessions = await sessionsFor(store, io, location)
    const authorizer = await createAuthorizer({ store, sessions: sessions ?? undefined, policy: bundle })
    try {
      const record = await authorizer.explain({ method, path, headers, scheme })
      const explained: Explanation = explainRecord(record, await RuleIndex.fromBundle(bundle))
      if (values.trace === true && record.input !== null) {
        const opa = io.env.KEYGATE_OPA?.trim() || defaultOpa()
        const traced = await opaExplain(record.input, { opa, policyDir: fileURLToPath(new URL('../../policies', import.meta.url)) })
        explained.trace = traced.trace
      }
      return explained
    } finally {
      await authorizer.close()
      await sessions?.close()
    }
  })
  print(io, values, explanation, () => describe(explanation))
  return 0
}

function describe (e: Explanation): string {
  const d = e.decision
  const lines = [
    `decision:   ${d.status} ${d.code} (${d.allow ? 'allow' : 'deny'})`,
    `subject:    ${d.subject ?? '-'}${d.actor === null ? '' : `   actor: ${d.actor} (impersonating)`}`,
    `credential: ${d.credential.type}${d.credential.id === null ? '' : ` ${d.credential.id}`}${d.credential.prefix === null ? '' : ` (${d.credential.prefix}…)`}`,
    `action:     ${d.action === null ? '-' : `${d.action.resource} ${d.action.verb} (${d.action.class})`}`,
    `policy:     revision ${d.policyRevision ?? '-'}`
  ]
  if (e.rules.length > 0) {
    lines.push('reasons:')
    for (const r of e.rules) {
      lines.push(`  ${r.code}: ${r.msg}`)
      lines.push(`    rule ${r.rule ?? '(not found in the bundle\'s sources)'}${r.location === null ? '' : ` at ${r.location}`}`)
    }
  }
  lines.push('input (masked):', JSON.stringify(e.input, null, 2))
  if (e.trace !== undefined) lines.push('opa eval --explain=fails:', ...e.trace)
  return lines.join('\n')
}

function row (e: LogEntry): string[] {
  const request = `${e.request.method ?? ''} ${e.request.path ?? ''}`.trim()
  return [
    e.timestamp,
    e.kind,
    e.status === null ? '' : String(e.status),
    e.subject ?? '',
    e.actor ?? '',
    e.key_id ?? '',
    request,
    e.kind === 'security' ? `${e.event} (${e.count})` : e.reason_codes.join(',')
  ]
}

async function sessionsFor (store: Store, io: CliIo, location: { databaseUrl?: string; dataDir?: string }): Promise<Sessions | null> {
  try {
    const { options } = await sessionSettingsFromEnvironment(io.env, location)
    return new Sessions({ ...options, db: store.database })
  } catch (error) {
    io.stderr.write(`keygate: session tokens cannot be verified here (${(error as Error).message}); they count as unknown\n`)
    return null
  }
}

function defaultOpa (): string {
  const local = fileURLToPath(new URL('../../.tools/bin/opa', import.meta.url))
  return existsSync(local) ? local : 'opa'
}

function integer (name: string, value: string, min: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}`)
  return Number(value)
}

function time (name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined
  const date = /^\d{1,15}$/.test(value) ? new Date(Number(value)) : /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN)
  if (Number.isNaN(date.getTime())) throw new UsageError(`--${name} takes epoch milliseconds or an RFC 3339 date-time`)
  return date
}

