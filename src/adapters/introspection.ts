/**
 * RFC 7662 token introspection answers, from a decision made on the token
 * alone: the same parser, principal resolution and policy as every other
 * decision. A token is active exactly when the policy authenticates it.
 */
import type { DecisionRecord } from '../authorizer/result.js'
import type { HttpAnswer } from './http.js'

/**
 * The action an introspection is authorized as, for the caller's own
 * credential: an admin action, so the policy says who may introspect. The
 * introspected token is decided on it too (authentication does not depend on
 * the path).
 */
export const INTROSPECTION_ACTION = { method: 'POST', path: '/admin/v1/token/introspect' } as const

export interface ActiveToken {
  active: true
  sub: string
  /** Space-separated key scopes, `*` for a full-access key; absent for a session (see keygate.allowedRoutes). */
  scope?: string
  client_id: string
  token_type: 'Bearer'
  /** Seconds since the epoch; absent for a key that never expires. */
  exp?: number
  iat?: number
  /** RFC 8693: the account acting through the credential. */
  act?: { sub: string }
  keygate: {
    credential: 'secret_key' | 'session'
    allowedRoutes: string[] | null
    restrictions: string[]
  }
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', pragma: 'no-cache' }

// RFC 7662 §2.2: nothing beyond "active" for a token that is not, whatever the cause.
const INACTIVE_BODY = '{"active":false}'
const INACTIVE: HttpAnswer = Object.freeze({
  status: 200,
  headers: Object.freeze({ ...JSON_HEADERS, 'content-length': String(INACTIVE_BODY.length) }),
  body: INACTIVE_BODY
}) as HttpAnswer

/** The answer for a token decided as INTROSPECTION_ACTION; null when the decision failed (answer 503). */
export function introspectionAnswer (record: DecisionRecord): HttpAnswer | null {
  const active = activeToken(record)
  if (active === undefined) return null
  if (active === null) return INACTIVE
  const body = JSON.stringify(active)
  return { status: 200, headers: { ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(body)) }, body }
}

/** null: not active; undefined: no decision could be made (a fault, never "inactive"). */
export function activeToken ({ result, input }: DecisionRecord): ActiveToken | null | undefined {
  if (result.status === 503) return undefined
  // Authenticated: allowed, or refused this action (403) as a known subject.
  if ((result.status !== 200 && result.status !== 403) || result.subject === null || input === null) return null
  const { credential, principal } = input
  if ((credential.type !== 'secret_key' && credential.type !== 'session') || credential.id === undefined || principal === null) return null
  const token: ActiveToken = {
    active: true,
    sub: result.subject,
    client_id: credential.id,
    token_type: 'Bearer',
    keygate: {
      credential: credential.type,
      allowedRoutes: credential.allowedRoutes ?? null,
      restrictions: [...principal.restrictions]
    }
  }
  if (credential.type === 'secret_key') token.scope = credential.scopes == null ? '*' : credential.scopes.join(' ')
  if (typeof credential.expiresAt === 'number') token.exp = Math.floor(credential.expiresAt / 1000)
  if (credential.issuedAt !== undefined) token.iat = Math.floor(credential.issuedAt / 1000)
  // The decision's actor: the parent that minted (or acts through) the credential, when there is one.
  if (result.actor !== null && result.actor !== result.subject) token.act = { sub: result.actor }
  return token
}
