import type { ConsoleCredential } from '../credentials/parse.js'
import type { Throttled } from '../limits/throttle.js'
import type { CredentialType, PolicyDecision, PolicyInput, Reason } from '../policy/input.js'

export interface AuthorizeRequest {
  method: string
  /**
   * Request target. The query string takes no part in the decision but for
   * one fact: whether it has an `access_token` parameter (RFC 6750 §2.3; see
   * PolicyInput.request.queryAccessToken).
   */
  path: string
  headers: Record<string, string | string[] | undefined>
  /** How the client reached us; default `http`. */
  scheme?: 'http' | 'https'
  /** Who sent the request, for the decision log only (never part of the policy input). */
  client?: ClientInfo
  /**
   * A console session that Keygate's own server found from its cookie (the
   * authorizer never reads cookies): the credential when the request has no
   * Authorization header. null: a cookie that opens no live session.
   */
  console?: ConsoleCredential | null
}

export interface ClientInfo {
  /** The client's IP address, as the adapter (or a trusted proxy) saw it. */
  address?: string | null
}

export type DecisionStatus = 200 | 400 | 401 | 403 | 429 | 503
export type DecisionCode = PolicyDecision['code'] | 'RATE_LIMITED' | 'SERVICE_UNAVAILABLE'

export interface AuthorizationResult {
  allow: boolean
  status: DecisionStatus
  code: DecisionCode
  /** For logs and operators only; never send them to the client. */
  reasons: Reason[]
  /** The account the request acts as (the child when impersonating). */
  subject: string | null
  /** The account acting as the subject: the parent holding the key while impersonating, or the one that minted the credential. */
  actor: string | null
  credential: { type: CredentialType; id: string | null; prefix: string | null }
  action: PolicyDecision['action']
  decisionId: string
  policyRevision: string | null
  /** With a 429: whole seconds until the client may try again (the `Retry-After` header). */
  retryAfterSeconds?: number
  /** The IETF RateLimit-Policy and RateLimit field values, when the key or its account has limits. */
  rateLimit?: { policy: string; state: string }
}

/** What the audit stage receives: the result plus what it was decided on. */
export interface DecisionRecord {
  result: AuthorizationResult
  /**
   * Null when the decision failed before the input could be assembled.
   * Read-only (frozen): a remembered decision shares it with later records.
   */
  input: PolicyInput | null
  timestamp: Date
  durationMs: number
  /** Time spent evaluating the policy (0 when the decision failed before it). */
  policyMs: number
  /** `request.client`, when the adapter knew it. */
  client?: ClientInfo
  /** Set when failed authentications throttled the request (429 before any lookup). */
  throttled?: Throttled
  /**
   * Set when the decision memo answered: the same object for every record
   * one memo entry answers, whose results differ only in decision id and
   * RateLimit headers, and inputs only in `now`.
   */
  memo?: object
}
