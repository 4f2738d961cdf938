import { InvalidArgumentError, type Command } from 'commander'
import type { LogEntry } from '../audit/entry.js'
import { AuditStore } from '../audit/store.js'
import { parseTime } from '../audit/time.js'
import { auditFilterOf } from '../server/routes/audit.js'
import { table, wholeNumber, type Runner } from './context.js'
import type { Operations } from './operations.js'

export const operations: Operations = {
  'audit.list': async ({ store }, p) => {
    const page = await new AuditStore(store.database).list(auditFilterOf(p))
    return page.nextCursor === null ? { items: page.items } : { items: page.items, cursor: page.nextCursor }
  },
  'audit.prune': async ({ store }, p) => {
    const before = new Date(Date.now() - (p.olderThanDays as number) * 86_400_000)
    return { deleted: await new AuditStore(store.database).deleteOlderThan(before), before: before.getTime() }
  }
}

function timeOption (value: string): string {
  try {
    parseTime('the time', value)
  } catch {
    throw new InvalidArgumentError('expected epoch milliseconds or an RFC 3339 date-time')
  }
  return value
}

function choice (choices: string[]): (value: string) => string {
  return (value) => {
    if (!choices.includes(value)) throw new InvalidArgumentError(`expected ${choices.join(', ')}`)
    return value
  }
}

function row (e: LogEntry): string[] {
  return [
    e.timestamp, e.kind, e.status === null ? '' : String(e.status), e.subject ?? '', e.actor ?? '', e.key_id ?? '',
    `${e.request.method ?? ''} ${e.request.path ?? ''}`.trim(),
    e.kind === 'security' ? `${e.event} (${e.count})` : e.reason_codes.join(',')
  ]
}

export function register (program: Command, runner: Runner): void {
  const audit = program.command('audit').description('the decision log and security events: list, prune')

  audit.command('list').description('decision-log entries and security events, newest first')
    .option('--decision-id <id>', 'a decision and the security events it raised')
    .option('--user-id <id>', 'as subject or as actor')
    .option('--key-id <id>', 'key or session id')
    .option('--status <status>', '200, 400, 401, 403 or 503', choice(['200', '400', '401', '403', '503']))
    .option('--kind <kind>', 'decision or security', choice(['decision', 'security']))
    .option('--from <time>', 'from (inclusive): epoch ms or RFC 3339', timeOption)
    .option('--to <time>', 'to (exclusive): epoch ms or RFC 3339', timeOption)
    .option('--cursor <cursor>', 'the next page')
    .option('--take <n>', 'page size, 1 to 100 (default 20)', wholeNumber(1, 100))
    .action(async (o: Record<string, unknown>, c: Command) => {
      const query = { ...o, take: o.take === undefined ? undefined : String(o.take) }
      await runner.run(c, 'audit.list', query, (page: { items: LogEntry[]; cursor?: string }) => table(
        ['TIME', 'KIND', 'STATUS', 'SUBJECT', 'ACTOR', 'KEY', 'REQUEST', 'REASONS / EVENT'], page.items.map(row), page.cursor))
    })

  audit.command('prune').description('delete decision-log rows past their retention (the server also does it, hourly)')
    .option('--older-than-days <days>', 'default: KEYGATE_DECISION_LOG_RETENTION_DAYS (30)', wholeNumber(1, 36_500))
    .action(async (o: { olderThanDays?: number }, c: Command) => {
      const olderThanDays = o.olderThanDays ?? runner.config(c).decisionLogRetentionDays
      if (olderThanDays === 0) {
        c.error('error: KEYGATE_DECISION_LOG_RETENTION_DAYS=0 keeps every row: give --older-than-days', { exitCode: 2, code: 'keygate.usage' })
      }
      await runner.run(c, 'audit.prune', { olderThanDays }, (r: { deleted: number; before: number }) =>
        `deleted ${r.deleted} decision-log rows older than ${new Date(r.before).toISOString()}`)
    })
}
