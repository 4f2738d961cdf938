import { InvalidArgumentError, type Command } from 'commander'
import { closest } from 'fastest-levenshtein'
import { limitsFromText, LimitsError, limitsText, type Limits } from '../limits/limits.js'
import { createAccount, deleteAccount, InvalidInputError, NotFoundError, RESTRICTIONS as KNOWN_RESTRICTIONS, setAccountLimits, setRestriction, updateAccount } from '../manage/index.js'
import { adminUserView, pageView } from '../server/views.js'
import type { UserRecord } from '../store/index.js'
import { limitCommand, table, time, wholeNumber, type Runner } from './context.js'
import { OperationError, type Operations, type OperationContext } from './operations.js'

type User = ReturnType<typeof adminUserView> & { id: string; email: string; role: string; status: string; restrictions: string[]; rateLimits: Limits | null }

export const operations: Operations = {
  'user.create': async ({ store }, p) => adminUserView(await createAccount(store, {
    email: p.email as string, name: p.name as string | undefined, parentId: p.parent as string | undefined, role: p.admin === true ? 'admin' : 'user'
  })),
  'user.list': async ({ store }, p) => pageView(await store.listUsers({
    parentId: (p.parent as string | undefined) ?? null, cursor: p.cursor as string | undefined, take: p.take as number | undefined
  }), adminUserView),
  'user.fetch': async ({ store }, p) => adminUserView(found(await store.findUserById(p.id as string), p.id)),
  'user.update': async ({ store }, p) => adminUserView(await named(p.id, async () => await updateAccount(store, p.id as string, {
    ...(p.name === undefined ? {} : { name: p.name as string }),
    ...(p.email === undefined ? {} : { email: p.email as string }),
    ...(p.disabled === undefined ? {} : { disabled: p.disabled as boolean })
  }))),
  'user.limit': async ({ store }, p) => {
    try {
      const user = await named(p.id, async () => await setAccountLimits(store, p.id as string, p.clear === true ? null : limitsFromText(p.rate as string | undefined, p.quota as string | undefined)))
      return { id: user.id, limits: user.limits }
    } catch (error) {
      if (error instanceof LimitsError || error instanceof InvalidInputError) throw new OperationError(error.message, 'INVALID_INPUT')
      throw error
    }
  },
  'user.delete': async ({ store }, p) => {
    await named(p.id, async () => { await deleteAccount(store, p.id as string) })
    return { id: p.id }
  },
  'user.restrict': async (context, p) => await setRestrictions(context, p, 'add'),
  'user.unrestrict': async (context, p) => await setRestrictions(context, p, 'remove')
}

async function setRestrictions ({ store }: OperationContext, p: Record<string, unknown>, change: 'add' | 'remove'): Promise<unknown> {
  let user: UserRecord | null = null
  for (const flag of p.flags as string[]) {
    user = await named(p.id, async () => await setRestriction(store, p.id as string, flag, change === 'add'))
  }
  return adminUserView(found(user, p.id))
}

/** Writes go through manage/ (its checks); its "no such user" names the id given. */
async function named<T> (id: unknown, write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (error) {
    if (error instanceof NotFoundError) throw notFound(id)
    throw error
  }
}

function found (user: UserRecord | null, id: unknown): UserRecord {
  if (user === null) throw notFound(id)
  return user
}

function notFound (id: unknown): OperationError {
  return new OperationError(`no such user: ${String(id)}`, 'NOT_FOUND')
}

/** Only the flags the policy knows: a typo (`readonly`) would otherwise leave the account unrestricted. */
export function restrictionFlag (flag: string, previous: string[] | undefined): string[] {
  if (!(KNOWN_RESTRICTIONS as readonly string[]).includes(flag)) {
    const guess = closest(flag, [...KNOWN_RESTRICTIONS])
    throw new InvalidArgumentError(`unknown restriction ${JSON.stringify(flag)}; the known ones are ${KNOWN_RESTRICTIONS.join(', ')}` +
      ` (did you mean ${guess}?)`)
  }
  return [...(previous ?? []), flag]
}

const describe = (u: User): string =>
  `${u.id} <${u.email}> ${u.role} ${u.status}; restrictions: ${u.restrictions.join(', ') || '(none)'}`

export function register (program: Command, runner: Runner): void {
  const user = program.command('user').alias('users').description('accounts: create, list, fetch, update, delete, restrict, unrestrict')

  user.command('create').description('create an account, top-level or under --parent')
    .requiredOption('--email <email>', 'e-mail address')
    .option('--name <name>', 'display name')
    .option('--parent <userId>', 'the parent account (the new one is its child)')
    .option('--admin', 'an admin account (the operator API)')
    .action(async (o: Record<string, unknown>, c: Command) => {
      await runner.run(c, 'user.create', o, (u: User) => `created ${describe(u)}`)
    })

  user.command('list').description('accounts, top-level or the children of --parent, oldest first')
    .option('--parent <userId>', 'list this account\'s children')
    .option('--cursor <cursor>', 'the next page (from the previous page\'s cursor)')
    .option('--take <n>', 'page size, 1 to 100 (default 20)', wholeNumber(1, 100))
    .action(async (o: Record<string, unknown>, c: Command) => {
      await runner.run(c, 'user.list', o, (page: { items: User[]; cursor?: string }) => table(
        ['ID', 'EMAIL', 'ROLE', 'STATUS', 'RESTRICTIONS', 'CREATED', 'LIMITS'],
        page.items.map((u) => [u.id, u.email, u.role, u.status, u.restrictions.join(','), time(u.createdAt as number), limitsText(u.rateLimits)]), page.cursor))
    })

  user.command('fetch').description('one account, deleted ones included').argument('<userId>')
    .action(async (id: string, _o: unknown, c: Command) => {
      await runner.run(c, 'user.fetch', { id }, (u: User) => JSON.stringify(u, null, 2))
    })

  user.command('update').description('change an account\'s name or e-mail, or disable it (its credentials stop working at once)')
    .argument('<userId>')
    .option('--name <name>', 'new display name')
    .option('--email <email>', 'new e-mail address')
    .option('--disable', 'disable the account')
    .option('--enable', 'enable it again')
    .action(async (id: string, o: { name?: string; email?: string; disable?: boolean; enable?: boolean }, c: Command) => {
      if (o.disable === true && o.enable === true) c.error('error: --disable and --enable exclude each other', { exitCode: 2, code: 'keygate.usage' })
      if (o.name === undefined && o.email === undefined && o.disable === undefined && o.enable === undefined) {
        c.error('error: nothing to change: give --name, --email, --disable or --enable', { exitCode: 2, code: 'keygate.usage' })
      }
      const disabled = o.disable === true ? true : o.enable === true ? false : undefined
      await runner.run(c, 'user.update', { id, name: o.name, email: o.email, disabled }, (u: User) => `updated ${describe(u)}`)
    })

  limitCommand(user, runner, 'user.limit', 'set an account\'s rate limit and quota (all its credentials together; a child\'s within its parent\'s), or clear them')

  user.command('delete').description('delete an account: its keys and sessions stop working at once').argument('<userId>')
    .action(async (id: string, _o: unknown, c: Command) => {
      await runner.run(c, 'user.delete', { id }, () => `deleted ${id}`)
    })

  for (const parent of [user, program]) {
    restrictCommand(parent, runner, 'restrict', 'add restriction flags', parent === program)
    restrictCommand(parent, runner, 'unrestrict', 'remove restriction flags', parent === program)
  }
}

function restrictCommand (parent: Command, runner: Runner, name: 'restrict' | 'unrestrict', summary: string, shorthand: boolean): void {
  parent.command(name, { hidden: shorthand })
    .description(`${summary} (${KNOWN_RESTRICTIONS.join(', ')}); takes effect at once`)
    .argument('<userId>')
    .argument('<flags...>', KNOWN_RESTRICTIONS.join(' | '), restrictionFlag)
    .action(async (id: string, flags: string[], _o: unknown, c: Command) => {
      await runner.run(c, `user.${name}`, { id, flags }, (u: User) => `${u.id} restrictions: ${u.restrictions.join(', ') || '(none)'}`)
    })
}
