import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { createAuthorizer } from '../authorizer/authorizer.js'
import { DEFAULT_BUNDLE_PATH } from '../policy/engine.js'
import { sessionSettingsFromEnvironment } from '../sessions/environment.js'
import { Sessions } from '../sessions/sessions.js'
import { openStore, type Store } from '../store/index.js'
import type { LogEntry } from './entry.js'
import { explainRecord, opaExplain, RuleIndex, type Explanation } from './explain.js'
import { maskText } from './mask.js'
import { AuditStore, type AuditFilter } from './store.js'

export interface AuditCliIo {
  stdout: { write(chunk: string): unknown }
  stderr: { write(chunk: string): unknown }
  env: NodeJS.ProcessEnv
}

/** Bad arguments: the caller prints the usage and exits 2. */
export class AuditUsageError extends Error {}

const STORE_OPTIONS = {
  'database-url': { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean', default: false }
} as const satisfies ParseArgsConfig['options']

type Values = Record<string, string | boolean | string[] | undefined>

/** `keygate audit [prune] …` */
export async function auditCommand (argv: string[], io: AuditCliIo): Promise<number> {
  if (argv[0] === 'prune') {
    const values = parse(argv.slice(1), { 'older-than-days': { type: 'string' } })
    const days = integer('older-than-days', str(values, 'older-than-days') ?? io.env.KEYGATE_DECISION_LOG_RETENTION_DAYS?.trim() ?? '30', 1)
    const before = new Date(Date.now() - days * 86_400_000)
    const deleted = await withStore(values, io, async (store) => await new AuditStore(store.database).deleteOlderThan(before))
    print(io, values, { deleted, before: before.toISOString() }, () => `deleted ${deleted} decision-log rows older than ${before.toISOString()}`)
    return 0
  }
  const values = parse(argv, {
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
  const status = str(values, 'status')
  if (status !== undefined && !['200', '401', '403', '503'].includes(status)) throw new AuditUsageError('--status takes 200, 401, 403 or 503')
  const kind = str(values, 'kind')
  if (kind !== undefined && kind !== 'decision' && kind !== 'security') throw new AuditUsageError('--kind takes decision or security')
  const take = str(values, 'take')
  const filter: AuditFilter = {
    decisionId: str(values, 'decision-id'),
    userId: str(values, 'user-id'),
    keyId: str(values, 'key-id'),
    status: status === undefined ? undefined : Number(status),
    kind,
    from: time('from', str(values, 'from')),
    to: time('to', str(values, 'to')),
    cursor: str(values, 'cursor'),
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
export async function keyUsageCommand (argv: string[], io: AuditCliIo): Promise<number> {
  const { values, positionals } = parseWith(argv, { days: { type: 'string' } }, 1)
  const keyId = positionals[0] as string
  const days = integer('days', str(values, 'days') ?? '30', 1)
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
export async function policyExplainCommand (argv: string[], io: AuditCliIo): Promise<number> {
  const values = parse(argv, {
    method: { type: 'string' },
    path: { type: 'string' },
    header: { type: 'string', short: 'H', multiple: true },
    scheme: { type: 'string' },
    bundle: { type: 'string' },
    trace: { type: 'boolean', default: false }
  })
  const method = str(values, 'method') ?? 'GET'
  if (!/^[A-Za-z]{1,20}$/.test(method)) throw new AuditUsageError('--method takes an HTTP method')
  const path = str(values, 'path')
  if (path === undefined || path === '') throw new AuditUsageError('--path is required')
  const scheme = str(values, 'scheme') ?? 'https'
  if (scheme !== 'http' && scheme !== 'https') throw new AuditUsageError('--scheme takes http or https')
  const headers: Record<string, string[]> = {}
  for (const header of (values.header as string[] | undefined) ?? []) {
    const colon = header.indexOf(':')
    if (colon < 1) throw new AuditUsageError(`--header takes 'Name: value', got ${JSON.stringify(maskText(header))}`)
    const name = header.slice(0, colon).trim().toLowerCase()
    ;(headers[name] ??= []).push(header.slice(colon + 1).trim())
  }
  const bundle = str(values, 'bundle') ?? (io.env.KEYGATE_POLICY_BUNDLE?.trim() || DEFAULT_BUNDLE_PATH)
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

async function sessionsFor (store: Store, io: AuditCliIo, location: { databaseUrl?: string; dataDir?: string }): Promise<Sessions | null> {
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

function parse (argv: string[], options: NonNullable<ParseArgsConfig['options']>): Values {
  return parseWith(argv, options, 0).values
}

function parseWith (argv: string[], options: NonNullable<ParseArgsConfig['options']>, positionals: number): { values: Values; positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: { ...STORE_OPTIONS, ...options }, allowPositionals: positionals > 0, strict: true })
  } catch (error) {
    throw new AuditUsageError(maskText((error as Error).message))
  }
  if (parsed.positionals.length !== positionals) {
    throw new AuditUsageError(`expected ${positionals} argument${positionals === 1 ? '' : 's'}, got ${parsed.positionals.length}`)
  }
  return { values: parsed.values as Values, positionals: parsed.positionals }
}

function str (values: Values, name: string): string | undefined {
  const value = values[name]
  return typeof value === 'string' ? value : undefined
}

function integer (name: string, value: string, min: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min) throw new AuditUsageError(`--${name} must be a whole number ≥ ${min}`)
  return Number(value)
}

function time (name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined
  const date = /^\d{1,15}$/.test(value) ? new Date(Number(value)) : /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN)
  if (Number.isNaN(date.getTime())) throw new AuditUsageError(`--${name} takes epoch milliseconds or an RFC 3339 date-time`)
  return date
}

function storeLocation (values: Values, io: AuditCliIo): { databaseUrl?: string; dataDir?: string } {
  return {
    databaseUrl: str(values, 'database-url') ?? (io.env.KEYGATE_DATABASE_URL || undefined),
    dataDir: str(values, 'data-dir') ?? (io.env.KEYGATE_DATA_DIR || undefined)
  }
}

async function withStore<T> (values: Values, io: AuditCliIo, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ ...storeLocation(values, io), migrate: true })
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

function print (io: AuditCliIo, values: Values, json: unknown, text: () => string): void {
  io.stdout.write((values.json === true ? JSON.stringify(json) : text()) + '\n')
}

function table (header: string[], rows: string[][], nextCursor: string | null): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
  const out = [line(header), ...rows.map(line)]
  if (nextCursor !== null) out.push(`(more: --cursor ${nextCursor})`)
  return out.join('\n')
}
