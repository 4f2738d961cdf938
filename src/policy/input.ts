/**
 * The policy input document, version 2. The JSON Schema in
 * policies/schema/input.json describes the same shape; keep them in step.
 *
 * TypeScript reports facts (what the credential is, what the store says about
 * the accounts involved, the clock); the policy decides what they mean.
 *
 * The version changes whenever a policy written for the previous one would
 * decide the new input wrongly (not merely ignore a field): version 2 added
 * credentials minted by a parent for its child (`credential.actorId`,
 * `actor`), which a version 1 policy would accept without checking the
 * parent. A policy must refuse a version it does not know (the default
 * policy answers 401), and the reloader refuses a bundle that does.
 */
import type { LimitFacts, Limits } from '../limits/limits.js'

export const POLICY_INPUT_VERSION = 2

/** `other_scheme`: an Authorization header of another scheme than Bearer (Basic, Token, a bare key). */
/** `console_session`: a console cookie, carrying the rights of the secret key that opened it (its id and prefix are the key's). */
export type CredentialType = 'none' | 'other_scheme' | 'malformed' | 'secret_key' | 'session' | 'console_session'

/**
 * A credential as resolved against the store. `found: false` covers every
 * reason it is unknown. Once `found` is true, `expiresAt`, `revoked`,
 * `actorId` and `scopes` (keys) or `allowedRoutes` (sessions) must be
 * present: the policy denies when one is absent, and reads `null` as
 * "never" / "none" / "everything".
 */
export interface CredentialFacts {
  type: CredentialType
  /** Secret key or session row was found (a checksum failure never reaches the store: found is false). */
  found: boolean
  /** Key or session id; absent unless found. */
  id?: string
  /** Display prefix of a secret key (non-secret). */
  prefix?: string
  /** Epoch milliseconds when the key or session was created (absent unless found). */
  issuedAt?: number
  /** Epoch milliseconds, or null for never. */
  expiresAt?: number | null
  revoked?: boolean
  /** Key scopes; null means full access. */
  scopes?: string[] | null
  /** Session route globs; null means every route. */
  allowedRoutes?: string[] | null
  /**
   * The account that minted the credential for its owner (a parent for its
   * child, or while acting as it); null for the owner's own credential.
   */
  actorId?: string | null
  /** The key's rate limit and quota (src/limits), only when it has any. */
  limits?: Limits
}

export type AccountStatus = 'active' | 'disabled' | 'deleted'

export interface AccountFacts {
  id: string
  parentId: string | null
  role: 'user' | 'admin'
  status: AccountStatus
  restrictions: string[]
  /** The account's rate limit and quota (src/limits), only when it has any. */
  limits?: Limits
}

export type RunAsHeader = 'user_id' | 'email'

/** One X-RunAs-* header as presented and resolved. */
export interface RunAsRequest {
  via: RunAsHeader
  /**
   * The value had the right shape: a single header of its kind (an id or an
   * e-mail, whatever the spelling), the value in its grammar. When any is
   * false, no account was looked up.
   */
  wellFormed: boolean
  /** The account it names, or null when no such account could be found for this caller. */
  account: AccountFacts | null
}

export interface PolicyInput {
  version: typeof POLICY_INPUT_VERSION
  /** Epoch milliseconds. */
  now: number
  request: {
    method: string
    /** Path without query string, as received. */
    path: string
    scheme: 'http' | 'https'
    /**
     * The request URI's query has an `access_token` parameter (RFC 6750 §2.3).
     * Keygate never reads a credential from it; with an Authorization header
     * it is a second method, which RFC 6750 §2 forbids. Absent: false.
     */
    queryAccessToken?: boolean
  }
  credential: CredentialFacts
  /** The owner of the credential; null when the credential was not found. */
  principal: AccountFacts | null
  /** The account `credential.actorId` names; null when it names none, or no such account exists. */
  actor: AccountFacts | null
  /** Empty when no X-RunAs-* header was sent. */
  runAs: RunAsRequest[]
  /**
   * The limits of the key and of its owner, with what their current windows
   * have used (counted by TypeScript, src/limits); absent when neither has
   * any. The policy decides whether a request over a limit is a 429.
   */
  limits?: LimitFacts[]
}

export interface Reason {
  code: string
  msg: string
}

/**
 * What the entrypoint `keygate/authz/decision` returns. 400 INVALID_REQUEST is
 * a request malformed by syntax alone (X-RunAs-* headers, two credential
 * methods), decided before and whatever the credential.
 */
export interface PolicyDecision {
  allow: boolean
  status: 200 | 400 | 401 | 403 | 429
  code: 'OK' | 'INVALID_REQUEST' | 'NOT_AUTHENTICATED' | 'NOT_AUTHORIZED' | 'RATE_LIMITED'
  reasons: Reason[]
  /** The account the request acts as (the child when impersonating). */
  subject: string | null
  /**
   * The account acting as the subject, when it is not the subject itself: the
   * holder of the credential while impersonating, or the parent that minted it.
   */
  actor: string | null
  action: { resource: string; verb: string; class: 'read' | 'write' | 'manage' | 'admin' } | null
}
