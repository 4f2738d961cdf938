import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { bootstrap, createAccount, issueKey, ManageError, revokeKey, setRestriction, validateRestriction } from '../manage/index.js'
import { StoreConflictError, type UserRecord, type KeyRecord } from '../store/index.js'
import { auditCommand, keyUsageCommand, policyExplainCommand } from '../audit/cli.js'
import { optional, parseCommand, print, table, UsageError, withStore, type CliIo, type Values } from './args.js'

export type { CliIo } from './args.js'

const USAGE = `Usage: keygate <command> [options]

Commands:
  migrate                                   apply pending store migrations
  bootstrap --email E [--name N]            first admin account and key (empty store only); prints {"userId","token"}
  user create --email E [--name N] [--parent ID] [--admin]
  user list [--parent ID] [--cursor C] [--take N]
  key create --user ID [--name N] [--expires-in SECONDS] [--scope S]...
  key list --user ID [--cursor C] [--take N]
  key revoke KEY_ID
  key usage KEY_ID [--days N]               a key's last use, request count and daily counts
  restrict USER_ID FLAG                     add a restriction (impersonation, read-only, suspended, …)
  unrestrict USER_ID FLAG                   remove it
  policy build|test                         compile the Rego policy to WebAssembly; run its tests
  policy explain --method M --path P [--header 'Name: value']... [--scheme http|https] [--trace]
                                            decide one request and name the rules that decided it
  audit [--decision-id ID] [--user-id ID] [--key-id ID] [--status S] [--kind decision|security]
        [--from T] [--to T] [--cursor C] [--take N]   decision log and security events, newest first
  audit prune [--older-than-days N]         delete decision-log rows past retention
  signing-key list|rotate [--if-older-than DAYS]   session-token signing keys (see keygate signing-key --help)
  serve                                     run the authorizer server (configured by KEYGATE_* variables)

Global options:
  --database-url URL   PostgreSQL server (env KEYGATE_DATABASE_URL); default: embedded store
  --data-dir DIR       embedded store folder (env KEYGATE_DATA_DIR, default .keygate/data)
  --json               machine-readable output
  -h, --help           this text
`

/** Runs one CLI command; returns the exit code. Never calls process.exit. */
export async function main (argv: string[], io: CliIo): Promise<number> {
  try {
    return await run(argv, io)
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`keygate: ${error.message}\n\n${USAGE}`)
      return 2
    }
    if (error instanceof ManageError || error instanceof StoreConflictError) {
      io.stderr.write(`keygate: ${error.message}\n`)
      return 1
    }
    io.stderr.write(`keygate: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}

async function run (argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    io.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  switch (command) {
    case 'migrate': {
      const { values } = parseCommand(rest, {})
      await withStore(values, io, async () => {})
      print(io, values, { migrated: true }, () => 'store is up to date')
      return 0
    }
    case 'bootstrap': {
      const { values } = parseCommand(rest, { email: { type: 'string' }, name: { type: 'string' } })
      const result = await withStore(values, io, async (store) =>
        await bootstrap(store, { email: required(values, 'email'), name: optional(values, 'name') }))
      io.stdout.write(JSON.stringify(result) + '\n')
      return 0
    }
    case 'user': return await userCommand(rest, io)
    case 'key': return await keyCommand(rest, io)
    case 'restrict':
    case 'unrestrict': {
      const { values, positionals } = parseCommand(rest, {}, 2)
      const [userId, flag] = positionals as [string, string]
      validateRestriction(flag)
      const user = await withStore(values, io, async (store) => await setRestriction(store, userId, flag, command === 'restrict'))
      print(io, values, showUser(user), () => `${user.id} restrictions: ${user.restrictions.join(', ') || '(none)'}`)
      return 0
    }
    case 'serve': {
      if (rest.length > 0) throw new UsageError('serve takes no arguments: configure it with KEYGATE_* variables (see README "Server")')
      const { serve } = await import('../server/serve.js')
      return await serve({ env: io.env, stdout: io.stdout })
    }
    case 'signing-key': {
      const { signingKeyCommand } = await import('../sessions/cli.js')
      return await signingKeyCommand(rest, io)
    }
    case 'audit': return await auditCommand(rest, io)
    case 'policy': {
      const [action, ...extra] = rest
      if (action === 'explain') return await policyExplainCommand(extra, io)
      if ((action !== 'build' && action !== 'test') || extra.length > 0) throw new UsageError('policy takes build, test or explain')
      return await runScript('scripts/policy.sh', [action], io)
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  }
}

async function userCommand (argv: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = argv
  if (action === 'create') {
    const { values } = parseCommand(rest, {
      email: { type: 'string' }, name: { type: 'string' }, parent: { type: 'string' }, admin: { type: 'boolean', default: false }
    })
    const user = await withStore(values, io, async (store) => await createAccount(store, {
      email: required(values, 'email'),
      name: optional(values, 'name'),
      parentId: optional(values, 'parent'),
      role: values.admin === true ? 'admin' : 'user'
    }))
    print(io, values, showUser(user), () => `created user ${user.id} <${user.email}>`)
    return 0
  }
  if (action === 'list') {
    const { values } = parseCommand(rest, { parent: { type: 'string' }, cursor: { type: 'string' }, take: { type: 'string' } })
    const page = await withStore(values, io, async (store) => await store.listUsers({
      parentId: optional(values, 'parent') ?? null, cursor: optional(values, 'cursor'), take: takeOf(values)
    }))
    print(io, values, { items: page.items.map(showUser), nextCursor: page.nextCursor }, () => table(
      ['ID', 'EMAIL', 'ROLE', 'STATUS', 'RESTRICTIONS'],
      page.items.map((u) => [u.id, u.email, u.role, u.status, u.restrictions.join(',')]), page.nextCursor))
    return 0
  }
  throw new UsageError('user takes create or list')
}

async function keyCommand (argv: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = argv
  if (action === 'create') {
    const { values } = parseCommand(rest, {
      user: { type: 'string' }, name: { type: 'string' }, 'expires-in': { type: 'string' }, scope: { type: 'string', multiple: true }
    })
    const expiresIn = optional(values, 'expires-in')
    const key = await withStore(values, io, async (store) => await issueKey(store, {
      userId: required(values, 'user'),
      name: optional(values, 'name'),
      expiresInSeconds: expiresIn === undefined ? undefined : integer('expires-in', expiresIn),
      scopes: (values.scope as string[] | undefined) ?? null
    }))
    print(io, values, { id: key.id, token: key.token, createdAt: key.createdAt.toISOString(), ...showKey(key.record) },
      () => `created key ${key.id}\n${key.token}\n(shown once: store it now)`)
    return 0
  }
  if (action === 'list') {
    const { values } = parseCommand(rest, { user: { type: 'string' }, cursor: { type: 'string' }, take: { type: 'string' } })
    const page = await withStore(values, io, async (store) =>
      await store.listKeys(required(values, 'user'), { cursor: optional(values, 'cursor'), take: takeOf(values) }))
    print(io, values, { items: page.items.map(showKey), nextCursor: page.nextCursor }, () => table(
      ['ID', 'PREFIX', 'NAME', 'SCOPES', 'EXPIRES', 'REVOKED', 'LAST USED', 'REQUESTS'],
      page.items.map((k) => [k.id, `${k.prefix}…`, k.name ?? '', k.scopes?.join(',') ?? '(full)',
        k.expiresAt?.toISOString() ?? 'never', k.revokedAt?.toISOString() ?? '', k.lastUsedAt?.toISOString() ?? 'never',
        String(k.useCount)]), page.nextCursor))
    return 0
  }
  if (action === 'revoke') {
    const { values, positionals } = parseCommand(rest, {}, 1)
    const keyId = positionals[0] as string
    await withStore(values, io, async (store) => { await revokeKey(store, keyId) })
    print(io, values, { id: keyId, revoked: true }, () => `revoked ${keyId}`)
    return 0
  }
  if (action === 'usage') return await keyUsageCommand(rest, io)
  throw new UsageError('key takes create, list, revoke or usage')
}

function required (values: Values, name: string): string {
  const value = values[name]
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`)
  return value
}

function integer (name: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number`)
  return Number(value)
}

function takeOf (values: Values): number | undefined {
  const take = optional(values, 'take')
  return take === undefined ? undefined : integer('take', take)
}

function showUser (u: UserRecord): Record<string, unknown> {
  return {
    id: u.id, email: u.email, name: u.name, parentId: u.parentId, role: u.role, status: u.status,
    restrictions: u.restrictions, createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString()
  }
}

function showKey (k: KeyRecord): Record<string, unknown> {
  return {
    id: k.id, userId: k.userId, name: k.name, prefix: k.prefix, scopes: k.scopes,
    createdAt: k.createdAt.toISOString(), expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null, lastUsedAt: k.lastUsedAt?.toISOString() ?? null, requestCount: k.useCount
  }
}

async function runScript (script: string, args: string[], io: CliIo): Promise<number> {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  return await new Promise((resolve) => {
    const child = spawn('bash', [script, ...args], { cwd: root, env: io.env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', (chunk: Buffer) => io.stdout.write(chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => io.stderr.write(chunk.toString()))
    child.on('close', (code) => resolve(code ?? 1))
    child.on('error', (error) => { io.stderr.write(`keygate: ${error.message}\n`); resolve(1) })
  })
}
