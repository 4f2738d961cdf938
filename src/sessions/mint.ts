import { SignJWT } from 'jose'
import { InvalidSessionRequestError, SessionUserNotFoundError } from './errors.js'
import { newSessionId } from './lib/ids.js'
import { insertSession } from './lib/rows.js'
import type { SigningKeyring } from './keyring.js'
import { MIN_DURATION_SECONDS, SESSION_TOKEN_TYPE, type ResolvedSessionOptions } from './options.js'

export interface MintRequest {
  /** The user the session acts as (`sub`). */
  userId: string
  /**
   * The parent minting the session for its child `userId`, or while acting
   * as it (RFC 8693 `act: {"sub": actorId}`); omitted or null: none.
   */
  actorId?: string | null
  /** From 1 to the operator's maximum; omitted or null: the operator's default (900 s). */
  durationInSeconds?: number | null
  /** Route globs the session is limited to (`bot/**`, `!bot/*\/delete`); omitted or null: every route. */
  allowedRoutes?: string[] | null
}

export interface MintedSession {
  id: string
  token: string
  /** Epoch milliseconds. */
  expiresAt: number
}

export const MAX_ALLOWED_ROUTES = 64
const MAX_ROUTE_LENGTH = 200
/** Printable ASCII without spaces; what the globs mean is the policy's business. */
const ROUTE_GLOB = /^[\x21-\x7e]+$/

/** Records a session and signs its token with the active key. */
export async function mintSession (options: ResolvedSessionOptions, keyring: SigningKeyring, request: MintRequest): Promise<MintedSession> {
  if (typeof request?.userId !== 'string') throw new TypeError('mint: userId must be a string')
  const actorId = request.actorId ?? null
  if (actorId !== null && (typeof actorId !== 'string' || actorId === request.userId)) {
    throw new TypeError('mint: actorId must be another user\'s id, or null')
  }
  const duration = validateDuration(request.durationInSeconds, options)
  const allowedRoutes = validateAllowedRoutes(request.allowedRoutes)
  // A second attempt only when another instance rotated the key between our reload and our insert.
  for (let attempt = 1; ; attempt++) {
    const signer = await keyring.signer()
    const iat = Math.floor(options.clock() / 1000)
    const exp = iat + duration
    const id = newSessionId()
    const header = { alg: 'EdDSA', typ: SESSION_TOKEN_TYPE, kid: signer.kid }
    const claims = {
      iss: options.issuer,
      aud: options.audience,
      sub: request.userId,
      iat,
      exp,
      jti: id,
      ...(actorId === null ? {} : { act: { sub: actorId } }),
      ...(allowedRoutes === null ? {} : { allowedRoutes })
    }
    if (encodedLength(header, claims) > options.maxTokenLength) {
      throw new InvalidSessionRequestError(`allowedRoutes make the token longer than ${options.maxTokenLength} characters`)
    }
    const outcome = await insertSession(options.db, {
      id, userId: request.userId, actorId, kid: signer.kid, allowedRoutes, createdAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000)
    })
    if (outcome === 'user_not_found') throw new SessionUserNotFoundError('no such user')
    if (outcome === 'key_retired') {
      if (attempt === 2) throw new Error('the signing key was retired twice while minting one session')
      keyring.invalidate()
      continue
    }
    const token = await new SignJWT(claims).setProtectedHeader(header).sign(signer.key)
    return { id, token, expiresAt: exp * 1000 }
  }
}

function validateDuration (value: unknown, options: ResolvedSessionOptions): number {
  if (value === undefined || value === null) return options.defaultDurationSeconds
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_DURATION_SECONDS || value > options.maxDurationSeconds) {
    throw new InvalidSessionRequestError(
      `durationInSeconds must be an integer from ${MIN_DURATION_SECONDS} to ${options.maxDurationSeconds}`)
  }
  return value
}

function validateAllowedRoutes (value: unknown): string[] | null {
  if (value === undefined || value === null) return null
  if (!Array.isArray(value) || value.length > MAX_ALLOWED_ROUTES) {
    throw new InvalidSessionRequestError(`allowedRoutes must be an array of at most ${MAX_ALLOWED_ROUTES} globs`)
  }
  for (const route of value) {
    if (typeof route !== 'string' || route.length > MAX_ROUTE_LENGTH || !ROUTE_GLOB.test(route)) {
      throw new InvalidSessionRequestError(
        `invalid allowedRoutes entry ${JSON.stringify(route)}: a glob of 1 to ${MAX_ROUTE_LENGTH} printable characters without spaces`)
    }
  }
  return [...value] as string[]
}

/** The length of the compact token these would make: both parts base64url-encoded, plus the 86-character signature. */
function encodedLength (header: object, claims: object): number {
  const base64urlLength = (json: string): number => Math.ceil(Buffer.byteLength(json) * 4 / 3)
  return base64urlLength(JSON.stringify(header)) + 1 + base64urlLength(JSON.stringify(claims)) + 1 + 86
}
