import { Option, type Command } from 'commander'
import { listSigningKeys } from '../sessions/signing-keys.js'
import { pageView, sessionView } from '../server/views.js'
import { collect, table, time, wholeNumber, type Runner } from './context.js'
import type { Operations } from './operations.js'

interface Minted { id: string; token: string; expiresAt: number }
interface Session { id: string; allowedRoutes: string[] | null; createdAt: number; expiresAt: number }
interface SigningKey { kid: string; state: string; createdAt: number; retiredAt: number | null; publishUntil: number | null }

const ms = (date: Date | null): number | null => date?.getTime() ?? null

export const operations: Operations = {
  'session.create': async ({ sessions }, p) => {
    const { id, token, expiresAt } = await (await sessions()).mint({
      userId: p.user as string, durationInSeconds: p.duration as number | undefined, allowedRoutes: (p.allowedRoute as string[] | undefined) ?? null
    })
    return { id, token, expiresAt }
  },
  'session.list': async ({ sessions }, p) => pageView(await (await sessions()).list(p.user as string, {
    cursor: p.cursor as string | undefined, take: p.take as number | undefined, order: p.order as 'asc' | 'desc' | undefined
  }), sessionView),
  'session.end': async ({ sessions }, p) => {
    await (await sessions()).end(p.id as string, p.user as string)
    return { id: p.id }
  },
  // Public facts only: listing needs no signing secret.
  'signing-key.list': async ({ store }) => (await listSigningKeys(store.database, Date.now())).map((k) => ({
    kid: k.kid, alg: k.alg, crv: k.crv, state: k.state, createdAt: k.createdAt.getTime(), retiredAt: ms(k.retiredAt), publishUntil: ms(k.publishUntil)
  })),
  'signing-key.rotate': async ({ sessions }, p) => {
    const service = await sessions()
    const key = p.ifOlderThan === undefined ? await service.rotate() : await service.rotateIfOlderThan((p.ifOlderThan as number) * 86_400)
    return key === null
      ? { rotated: false }
      : { rotated: true, kid: key.kid, alg: key.alg, crv: key.crv, state: key.state, createdAt: key.createdAt.getTime() }
  }
}

export function register (program: Command, runner: Runner): void {
  const session = program.command('session').alias('sessions').description('session tokens (short-lived JWTs): create, list, end')

  session.command('create').description('a session token for --user (printed once)')
    .requiredOption('--user <userId>', 'the account the token acts as')
    .option('--duration <seconds>', 'lifetime (default 900; at most KEYGATE_SESSION_MAX_SECONDS)', wholeNumber(1, 30 * 86_400))
    .option('--allowed-route <glob>', 'limit the token to these routes (repeatable): bot/**, !bot/*/delete', collect)
    .action(async (o: Record<string, unknown>, c: Command) => {
      await runner.run(c, 'session.create', o, (s: Minted) => `${s.id} (expires ${time(s.expiresAt)})\n${s.token}`)
    })

  session.command('list').description('--user\'s live sessions (never the token), oldest first unless --order desc')
    .requiredOption('--user <userId>', 'the sessions\' account')
    .option('--cursor <cursor>', 'the next page')
    .option('--take <n>', 'page size, 1 to 100 (default 20)', wholeNumber(1, 100))
    .addOption(new Option('--order <order>', 'creation order').choices(['asc', 'desc']))
    .action(async (o: Record<string, unknown>, c: Command) => {
      await runner.run(c, 'session.list', o, (page: { items: Session[]; cursor?: string }) => table(
        ['ID', 'CREATED', 'EXPIRES', 'ALLOWED ROUTES'],
        page.items.map((s) => [s.id, time(s.createdAt), time(s.expiresAt), s.allowedRoutes?.join(' ') ?? '(all)']), page.cursor))
    })

  session.command('end').description('end a session: its token stops working at once, on every instance')
    .argument('<sessionId>')
    .requiredOption('--user <userId>', 'the session\'s account')
    .action(async (id: string, o: { user: string }, c: Command) => {
      await runner.run(c, 'session.end', { id, user: o.user }, () => `ended ${id}`)
    })

  const signing = program.command('signing-key').alias('signing-keys').description('the keys that sign session tokens: list, rotate')
    .addHelpText('after', `
rotate makes a new signing key; the old one keeps verifying its tokens (and stays in
/.well-known/jwks.json) until the last of them has expired. Needs the signing secret:
KEYGATE_SIGNING_SECRET, or the embedded store's key file.`)

  signing.command('list').description('every signing key: active, retired (still verifying) or expired')
    .action(async (_o: unknown, c: Command) => {
      await runner.run(c, 'signing-key.list', {}, (keys: SigningKey[]) => keys.length === 0
        ? '(no signing keys yet: the first session token makes one)'
        : table(['KID', 'STATE', 'CREATED', 'RETIRED', 'PUBLISHED UNTIL'],
          keys.map((k) => [k.kid, k.state, time(k.createdAt), time(k.retiredAt), time(k.publishUntil)])))
    })

  signing.command('rotate').description('a new signing key, now')
    .option('--if-older-than <days>', 'only when the active key is older than this (for cron)', wholeNumber(1, 3650))
    .action(async (o: { ifOlderThan?: number }, c: Command) => {
      await runner.run(c, 'signing-key.rotate', { ifOlderThan: o.ifOlderThan }, (r: { rotated: boolean; kid?: string }) => r.rotated
        ? `new signing key ${r.kid}; the previous one verifies its tokens until they expire`
        : `the active key is younger than ${o.ifOlderThan} days: nothing to do`)
    })
}
