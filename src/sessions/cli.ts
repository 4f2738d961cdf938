import { parseArgs } from 'node:util'
import { openStore } from '../store/index.js'
import { sessionSettingsFromEnvironment } from './environment.js'
import { Sessions } from './sessions.js'
import { listSigningKeys, type SigningKeyInfo } from './signing-keys.js'

export interface SigningKeyCliIo {
  stdout: { write(chunk: string): unknown }
  stderr: { write(chunk: string): unknown }
  env: NodeJS.ProcessEnv
}

export const SIGNING_KEY_USAGE = `Usage:
  keygate signing-key list [--json]
  keygate signing-key rotate [--if-older-than DAYS] [--json]

  rotate makes a new signing key; the old one keeps verifying its tokens (and stays in
  /.well-known/jwks.json) until the last of them has expired. With --if-older-than it
  rotates only when the active key is older than DAYS (for cron). Needs the signing
  secret: KEYGATE_SIGNING_SECRET, or the embedded store's key file.

Options: --database-url URL (env KEYGATE_DATABASE_URL), --data-dir DIR (env KEYGATE_DATA_DIR)
`

/** `keygate signing-key list|rotate`; returns the exit code (2 for bad usage). */
export async function signingKeyCommand (argv: string[], io: SigningKeyCliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'database-url': { type: 'string' },
        'data-dir': { type: 'string' },
        'if-older-than': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    })
  } catch (error) {
    return usage(io, (error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout.write(SIGNING_KEY_USAGE)
    return 0
  }
  const [action, ...extra] = positionals
  if ((action !== 'list' && action !== 'rotate') || extra.length > 0) return usage(io, 'signing-key takes list or rotate')
  const olderThan = values['if-older-than']
  if (olderThan !== undefined && (action !== 'rotate' || !/^[1-9]\d{0,3}$/.test(olderThan))) {
    return usage(io, '--if-older-than takes a whole number of days, with rotate')
  }
  const location = {
    databaseUrl: values['database-url'] ?? (io.env.KEYGATE_DATABASE_URL || undefined),
    dataDir: values['data-dir'] ?? (io.env.KEYGATE_DATA_DIR || undefined)
  }
  const print = (json: unknown, text: string): void => { io.stdout.write((values.json ? JSON.stringify(json) : text) + '\n') }

  const store = await openStore({ ...location, migrate: true })
  try {
    if (action === 'list') {
      const keys = await listSigningKeys(store.database, Date.now())
      print(keys.map(showKey), table(keys))
      return 0
    }
    const { options } = await sessionSettingsFromEnvironment(io.env, location)
    const sessions = new Sessions({ ...options, db: store.database })
    const key = olderThan === undefined
      ? await sessions.rotate()
      : await sessions.rotateIfOlderThan(Number(olderThan) * 86_400)
    if (key === null) print({ rotated: false }, `the active key is younger than ${olderThan} days: nothing to do`)
    else print({ rotated: true, ...showKey(key) }, `new signing key ${key.kid}; the previous one verifies its tokens until they expire`)
    return 0
  } finally {
    await store.close()
  }
}

function usage (io: SigningKeyCliIo, message: string): number {
  io.stderr.write(`keygate: ${message}\n\n${SIGNING_KEY_USAGE}`)
  return 2
}

function showKey (key: SigningKeyInfo): Record<string, unknown> {
  return {
    kid: key.kid, alg: key.alg, crv: key.crv, state: key.state, createdAt: key.createdAt.toISOString(),
    retiredAt: key.retiredAt?.toISOString() ?? null, publishUntil: key.publishUntil?.toISOString() ?? null
  }
}

function table (keys: SigningKeyInfo[]): string {
  if (keys.length === 0) return '(no signing keys yet: the first session token makes one)'
  const rows = [['KID', 'STATE', 'CREATED', 'RETIRED', 'PUBLISHED UNTIL'], ...keys.map((k) => [
    k.kid, k.state, k.createdAt.toISOString(), k.retiredAt?.toISOString() ?? '', k.publishUntil?.toISOString() ?? ''
  ])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n')
}
