/**
 * The policy input document, version 1. The JSON Schema in
 * policies/schema/input.json describes the same shape; keep them in step.
 *
 * TypeScript reports facts (what the credential is, what the store says about
 * the accounts involved, the clock); the policy decides what they mean.
 */
export const POLICY_INPUT_VERSION = 1

export type CredentialType = 'none' | 'malformed' | 'secret_key' | 'session'

/**
 * A credential as resolved against the store. `found: false` covers every
 * reason it is unknown. Once `found` is true, `expiresAt`, `revoked` and
 * `scopes` (keys) or `allowedRoutes` (sessions) must be present: the policy
 * denies when one is absent, and reads `null` as "never" / "everything".
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
}

export type AccountStatus = 'active' | 'disabled' | 'deleted'

export interface AccountFacts {
  id: string
  parentId: string | null
  role: 'user' | 'admin'
  status: AccountStatus
  restrictions: string[]
}

export type RunAsHeader = 'user_id' | 'email'

/** One X-RunAs-* header as presented and resolved. */
export interface RunAsRequest {
  via: RunAsHeader
  /** The value had the right shape (a single header, a valid id or e-mail). */
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
  }
  credential: CredentialFacts
  /** The owner of the credential; null when the credential was not found. */
  principal: AccountFacts | null
  /** Empty when no X-RunAs-* header was sent. */
  runAs: RunAsRequest[]
}

export interface Reason {
  code: string
  msg: string
}

/** What the entrypoint `keygate/authz/decision` returns. */
export interface PolicyDecision {
  allow: boolean
  status: 200 | 401 | 403
  code: 'OK' | 'NOT_AUTHENTICATED' | 'NOT_AUTHORIZED'
  reasons: Reason[]
  /** The account the request acts as (the child when impersonating). */
  subject: string | null
  /** The account that holds the credential, when it differs from the subject. */
  actor: string | null
  action: { resource: string; verb: string; class: 'read' | 'write' | 'manage' | 'admin' } | null
}
