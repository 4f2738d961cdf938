import { inspect } from 'node:util'
import { StoreError, StoreUnavailableError } from './errors.js'

/**
 * SQLSTATE classes that blame the server or the connection, not the request:
 * 08 connection exception, 28 invalid authorization, 3D invalid catalog (no
 * such database), 53 insufficient resources, 57 operator intervention
 * (statement_timeout, shutdown), 58 system error.
 */
const UNAVAILABLE_SQLSTATE_CLASSES = new Set(['08', '28', '3D', '53', '57', '58'])
/** lock_not_available: lock_timeout elapsed. */
const UNAVAILABLE_SQLSTATES = new Set(['55P03'])

/**
 * Turns a driver failure that is no fault of the request (network, pool,
 * timeout, closed database) into a StoreUnavailableError; returns anything
 * else unchanged (SQL errors such as constraint violations, programming errors).
 */
export function toStoreError (error: unknown): unknown {
  if (error instanceof StoreError || error instanceof TypeError || error instanceof RangeError) return error
  const sqlState = sqlStateOf(error)
  const unavailable = sqlState === undefined
    // No SQLSTATE: the server never answered (refused, reset, timed out, pool or database closed),
    // or PGlite failed underneath (its file system errors are not even Errors).
    ? true
    : UNAVAILABLE_SQLSTATE_CLASSES.has(sqlState.slice(0, 2)) || UNAVAILABLE_SQLSTATES.has(sqlState)
  if (!unavailable) return error
  const message = error instanceof Error ? error.message : inspect(error, { depth: 1, breakLength: Infinity })
  return new StoreUnavailableError(`store unavailable: ${message}`, { cause: error })
}

/** The SQLSTATE of an error the server reported (pg and PGlite both set `severity` on those). */
export function sqlStateOf (error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const { code, severity } = error as { code?: unknown; severity?: unknown }
  return typeof severity === 'string' && typeof code === 'string' ? code : undefined
}

/** Runs a driver call, surfacing infrastructure failures as StoreUnavailableError. */
export async function guard<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw toStoreError(error)
  }
}

/** int8 as both drivers return it: a number when exact, a bigint beyond 2^53. */
export function parseInt8 (text: string): number | bigint {
  const value = Number(text)
  return Number.isSafeInteger(value) ? value : BigInt(text)
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/

/** LISTEN channel names are restricted so that both drivers treat them alike (PGlite lower-cases unquoted names). */
export function assertChannel (channel: string): void {
  if (typeof channel !== 'string' || !CHANNEL.test(channel)) {
    throw new TypeError(`listen: channel must match ${CHANNEL}, got ${JSON.stringify(channel)}`)
  }
}

/** Calls a subscriber without letting it break the driver's notification loop. */
export function deliver (onPayload: (payload: string) => void, payload: string, onError: (error: Error) => void): void {
  try {
    onPayload(payload)
  } catch (error) {
    onError(error instanceof Error ? error : new Error(String(error)))
  }
}
