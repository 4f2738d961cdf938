import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { DEFAULT_DATA_DIR } from '../store/database.js'
import { SessionConfigError } from './errors.js'
import type { SessionOptions } from './options.js'
import { parseSigningSecret, signingSecretFromFile } from './secret.js'

/** Where the store is, which decides where the signing secret may come from. */
export interface StoreLocation {
  databaseUrl?: string | undefined
  dataDir?: string | undefined
}

export interface SessionSettings {
  /** For `new Sessions({ db, ...options })`. */
  options: Omit<SessionOptions, 'db'>
  /** KEYGATE_SIGNING_KEY_ROTATE_DAYS in seconds, for `Sessions.scheduleRotation`; null: rotate by hand only. */
  rotateAfterSeconds: number | null
}

/**
 * Reads the KEYGATE_SIGNING_* and KEYGATE_SESSION_* variables once, at start:
 *
 * - `KEYGATE_SIGNING_SECRET`: 32 bytes, base64 or hex; required with a PostgreSQL server.
 *   Without it the embedded store uses `KEYGATE_SIGNING_KEY_FILE`, by default `signing.key`
 *   beside the data folder (`.keygate/signing.key`), generated with mode 0600 on first use;
 *   an in-memory store (`memory://`) gets a secret that lives as long as the process.
 * - `KEYGATE_SESSION_ISSUER`, `KEYGATE_SESSION_AUDIENCE`: `iss` and `aud` (default `keygate`).
 * - `KEYGATE_SESSION_DEFAULT_SECONDS` (900), `KEYGATE_SESSION_MAX_SECONDS` (86400).
 * - `KEYGATE_SIGNING_KEY_ROTATE_DAYS`: rotate the signing key when it is older than this.
 *
 * Throws SessionConfigError naming the variable; never echoes the secret.
 */
export async function sessionSettingsFromEnvironment (env: NodeJS.ProcessEnv, store: StoreLocation): Promise<SessionSettings> {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const seconds = (name: string, max: number): number | undefined => {
    const value = get(name)
    if (value === undefined) return undefined
    if (!/^\d{1,9}$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new SessionConfigError(`${name} must be a whole number from 1 to ${max}`)
    }
    return Number(value)
  }
  const rotateDays = seconds('KEYGATE_SIGNING_KEY_ROTATE_DAYS', 3650)
  return {
    options: {
      secret: await signingSecret(get('KEYGATE_SIGNING_SECRET'), get('KEYGATE_SIGNING_KEY_FILE'), store),
      issuer: get('KEYGATE_SESSION_ISSUER'),
      audience: get('KEYGATE_SESSION_AUDIENCE'),
      defaultDurationSeconds: seconds('KEYGATE_SESSION_DEFAULT_SECONDS', 30 * 86_400),
      maxDurationSeconds: seconds('KEYGATE_SESSION_MAX_SECONDS', 30 * 86_400)
    },
    rotateAfterSeconds: rotateDays === undefined ? null : rotateDays * 86_400
  }
}

async function signingSecret (value: string | undefined, keyFile: string | undefined, store: StoreLocation): Promise<Buffer> {
  if (value !== undefined) return parseSigningSecret(value)
  if (store.databaseUrl !== undefined) {
    throw new SessionConfigError('KEYGATE_SIGNING_SECRET is required with a PostgreSQL server: every instance must share it ' +
      '(e.g. `openssl rand -base64 32`)')
  }
  const dataDir = store.dataDir ?? DEFAULT_DATA_DIR
  // Nothing outlives an in-memory store, so neither need its keys.
  if (keyFile === undefined && dataDir.startsWith('memory://')) return randomBytes(32)
  return await signingSecretFromFile(keyFile ?? join(dirname(dataDir), 'signing.key'))
}
