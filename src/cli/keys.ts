import { Option, type Command } from 'commander'
import { AuditStore } from '../audit/store.js'
import { limitsFromText, LimitsError, limitsText, type Limits } from '../limits/limits.js'
import { InvalidInputError, issueKey, keyAgeFilter, MAX_KEY_LIFETIME_SECONDS, NotFoundError, revokeKey, rollKey, setKeyLimits } from '../manage/index.js'
import { sinceDays } from '../server/routes/audit.js'
import { issuedKeyView, keyUsageView, keyView, pageView } from '../server/views.js'
import { collect, limitCommand, table, time, wholeNumber, type Runner } from './context.js'
import { OperationError, type Operations } from './operations.js'

interface Key { id: string; prefix: string; name: string | null; scopes: string[] | null; expiresAt: number | null; revokedAt: number | null; lastUsedAt: number | null; requestCount: number; rateLimits: Limits | null }
interface Issued { id: string; token: string; createdAt: number }
interface Usage { id: string; lastUsedAt: number | null; requestCount: number; days: Array<{ day: string; requests: number; denied: number; lastUsedAt: number }> }

export const operations: Operations = {
  'key.create': async ({ store }, p) => issuedKeyView(await issueKey(store, {
    userId: p.user as string, name: p.name as string | undefined, expiresInSeconds: p.expiresIn as number | undefined, scopes: (p.scope as string[] | undefined) ?? null
  })),
  'key.list': async ({ store }, p) => pageView(await store.listKeys(
    p.user as string,
    { cursor: p.cursor as string | undefined, take: p.take as number | undefined },
    keyAgeFilter({ unusedDays: p.unusedDays as number | undefined, olderThanDays: p.olderThanDays as number | undefined }, new Date())
  ), keyView),
  'key.roll': async ({ store }, p) => issuedKeyView(await rollKey(store, p.id as string, p.graceSeconds as number)),
  'key.revoke': async ({ store }, p) => {
    try {
      await revokeKey(store, p.id as string)
    } catch (error) {
      if (error instanceof NotFoundError) throw new OperationError(`no such active key: ${String(p.id)}`, 'NOT_FOUND')
      throw error
    }
    return { id: p.id }
  },
  'key.limit': async ({ store }, p) => {
    try {
      const key = await setKeyLimits(store, p.id as string, p.clear === true ? null : limitsFromText(p.rate as string | undefined, p.quota as string | undefined))
      return { id: key.id, limits: key.limits }
    } catch (error) {
      if (error instanceof NotFoundError) throw new OperationError(`no such active key: ${String(p.id)}`, 'NOT_FOUND')
      if (error instanceof LimitsError || error instanceof InvalidInputError) throw new OperationError(error.message, 'INVALID_INPUT')
      throw error
    }
  },
  'key.usage': async ({ store }, p) => {
    const report = await new AuditStore(store.database).keyUsage(p.id as string, sinceDays(p.days as number))
    if (report === null) throw new OperationError(`no such key: ${String(p.id)}`, 'NOT_FOUND')
    return keyUsageView(report)
  }
}

const issued = (k: Issued): string => `${k.id}\n${k.token}\n(shown once: store it now)`

export function register (program: Command, runner: Runner): void {
  const key = program.command('key').alias('keys').description('secret keys of any account: create, list, roll, revoke, usage')

  key.command('create').description('a new secret key for --user (printed once)')
    .requiredOption('--user <userId>', 'the key\'s owner (any account: an operator\'s own, or a child)')
    .option('--name <name>', 'a name to tell keys apart')
    .option('--expires-in <seconds>', 'lifetime (default: never expires)', wholeNumber(1, MAX_KEY_LIFETIME_SECONDS))
    .option('--scope <scope>', 'limit the key (repeatable): *, read, write, manage, bot:read, …; default: full access', collect)
    .action(async (o: Record<string, unknown>, c: Command) => { await runner.run(c, 'key.create', o, issued) })

  key.command('list').description('--user\'s keys (display prefix only, never the secret)')
    .requiredOption('--user <userId>', 'the keys\' owner')
    .option('--cursor <cursor>', 'the next page')
    .option('--take <n>', 'page size, 1 to 100 (default 20)', wholeNumber(1, 100))
    .addOption(new Option('--unused-days [n]', 'only keys not used for n days (never used: since created); no n: KEYGATE_KEY_UNUSED_DAYS').argParser(wholeNumber(1, 99_999)))
    .addOption(new Option('--older-than-days [n]', 'only keys created more than n days ago (rotation due); no n: KEYGATE_KEY_ROTATION_DAYS').argParser(wholeNumber(1, 99_999)))
    .action(async (o: Record<string, unknown>, c: Command) => {
      // A flag without its number asks the operator's threshold.
      if (o.unusedDays === true) o.unusedDays = runner.config(c).keyUnusedDays
      if (o.olderThanDays === true) o.olderThanDays = runner.config(c).keyRotationDays
      await runner.run(c, 'key.list', o, (page: { items: Key[]; cursor?: string }) => table(
        ['ID', 'PREFIX', 'NAME', 'SCOPES', 'EXPIRES', 'REVOKED', 'LAST USED', 'REQUESTS', 'LIMITS'],
        page.items.map((k) => [k.id, `${k.prefix}…`, k.name ?? '', k.scopes?.join(',') ?? '(full)', time(k.expiresAt, 'never'),
          time(k.revokedAt), time(k.lastUsedAt, 'never'), String(k.requestCount), limitsText(k.rateLimits)]), page.cursor))
    })

  key.command('roll').description('a new key with the same owner, name and scopes; the old one expires after the grace period')
    .argument('<keyId>')
    .option('--grace-seconds <seconds>', 'how long the old key keeps working (default 0, at most 30 days)', wholeNumber(0, 30 * 86_400), 0)
    .action(async (id: string, o: { graceSeconds: number }, c: Command) => {
      await runner.run(c, 'key.roll', { id, graceSeconds: o.graceSeconds }, issued)
    })

  key.command('revoke').description('revoke a key at once, on every instance').argument('<keyId>')
    .action(async (id: string, _o: unknown, c: Command) => { await runner.run(c, 'key.revoke', { id }, () => `revoked ${id}`) })

  limitCommand(key, runner, 'key.limit', 'set a key\'s rate limit and quota (within its account\'s), or clear them')

  key.command('usage').description('a key\'s last use, request count and daily counts').argument('<keyId>')
    .option('--days <n>', 'how many days back, 1 to 999', wholeNumber(1, 999), 30)
    .action(async (id: string, o: { days: number }, c: Command) => {
      await runner.run(c, 'key.usage', { id, days: o.days }, (u: Usage) => [
        `${u.id}: ${u.requestCount} requests, last used ${time(u.lastUsedAt, 'never')}`,
        table(['DAY (UTC)', 'REQUESTS', 'DENIED', 'LAST USED'], u.days.map((d) => [d.day, String(d.requests), String(d.denied), time(d.lastUsedAt)]))
      ].join('\n'))
    })
}
