import { uuidV7 } from '../lib/uuid.js'
import type { DecisionRecord } from '../authorizer/result.js'
import type { CredentialType, PolicyInput } from '../policy/input.js'
import { ENTRYPOINT } from '../policy/engine.js'
import { maskText, maskValue } from './mask.js'

export type EntryKind = 'decision' | 'security'

/** Fields every log line has: the columns of keygate_decisions. */
interface EntryBase {
  kind: EntryKind
  /** The decision id for a decision; an event's own id for a security event. */
  id: string
  decision_id: string
  /** RFC 3339, UTC. */
  timestamp: string
  status: number | null
  code: string | null
  credential_type: CredentialType | null
  key_id: string | null
  key_prefix: string | null
  subject: string | null
  actor: string | null
  client_address: string | null
  reason_codes: string[]
}

/**
 * One decision, with the field names of OPA's decision logs (`decision_id`,
 * `timestamp`, `path`, `input`, `result`, `bundles`, `metrics`) and Keygate's
 * own beside them. Never holds a key, a token or an Authorization header.
 */
export interface DecisionEntry extends EntryBase {
  kind: 'decision'
  /** The policy's entrypoint. */
  path: string
  /** The policy input, masked; null when the decision failed before it was assembled. */
  input: PolicyInput | null
  /** What the policy (or the fault handler) decided. */
  result: {
    allow: boolean
    status: number
    code: string
    reasons: Array<{ code: string; msg: string }>
    subject: string | null
    actor: string | null
    action: { resource: string; verb: string; class: string } | null
  }
  bundles: { keygate: { revision: string } }
  metrics: { timer_keygate_authorize_ns: number }
  /** True when a parent acted as its child (actor and subject both set). */
  impersonated: boolean
  request: { method: string | null; path: string | null; scheme: string | null }
}

export type SecurityEventName =
  | 'revoked_key_presented'
  | 'expired_key_presented'
  | 'unauthenticated_burst'
  | 'authentication_throttled'
  | 'impersonation_refused_burst'
  | 'credential_over_plain_http'

/** Something an operator should look at; raised by the SecurityMonitor. */
export interface SecurityEntry extends EntryBase {
  kind: 'security'
  event: SecurityEventName
  /** How many occurrences the event stands for (1 for a key presented again). */
  count: number
  /** The window the count was taken over, in seconds; null for a single occurrence. */
  window_seconds: number | null
  /** What the count was grouped by, e.g. `{"client_address": "…"}` or `{"key_prefix": "sk-AbC123"}`. */
  group: Record<string, string>
  msg: string
  request: { method: string | null; path: string | null; scheme: string | null }
}

export type LogEntry = DecisionEntry | SecurityEntry

/** Where the request came from, as the adapter saw it. */
export interface ClientInfo {
  address: string | null
}

/** The decision-log entry for a record; masked before it is returned. */
export function decisionEntry (record: DecisionRecord): DecisionEntry {
  const { result, input } = record
  const masked = input === null ? null : maskValue(input)
  const actor = result.actor
  return {
    kind: 'decision',
    id: result.decisionId,
    decision_id: result.decisionId,
    timestamp: record.timestamp.toISOString(),
    path: ENTRYPOINT,
    input: masked,
    result: maskValue({
      allow: result.allow,
      status: result.status,
      code: result.code,
      reasons: result.reasons,
      subject: result.subject,
      actor,
      action: result.action
    }),
    bundles: { keygate: { revision: result.policyRevision ?? '' } },
    metrics: { timer_keygate_authorize_ns: Math.round(record.durationMs * 1e6) },
    status: result.status,
    code: result.code,
    credential_type: result.credential.type,
    key_id: safeId(result.credential.id),
    key_prefix: safeId(result.credential.prefix),
    subject: result.subject,
    actor,
    impersonated: actor !== null,
    client_address: clientAddress(record),
    reason_codes: result.reasons.map((r) => maskText(r.code)),
    request: requestOf(masked)
  }
}

/** A security event about one decision; the SecurityMonitor fills in what it saw. */
export function securityEntry (record: DecisionRecord, event: {
  event: SecurityEventName
  msg: string
  count: number
  windowSeconds: number | null
  group: Record<string, string>
}): SecurityEntry {
  const { result, input } = record
  const credential = input?.credential
  return {
    kind: 'security',
    id: uuidV7(),
    event: event.event,
    decision_id: result.decisionId,
    timestamp: record.timestamp.toISOString(),
    status: result.status,
    code: result.code,
    credential_type: result.credential.type,
    key_id: safeId(credential?.id ?? result.credential.id),
    key_prefix: safeId(credential?.prefix ?? result.credential.prefix),
    // The account concerned: the key's owner when the decision has no subject (a revoked key).
    subject: result.subject ?? input?.principal?.id ?? null,
    actor: result.actor,
    client_address: clientAddress(record),
    reason_codes: result.reasons.map((r) => maskText(r.code)),
    count: event.count,
    window_seconds: event.windowSeconds,
    group: maskValue(event.group),
    msg: event.msg,
    request: requestOf(input === null ? null : maskValue(input))
  }
}

let lastAddress = ''
let lastLogged: string | null = null

/** The client's address as the log keeps it: masked, at most 64 characters (the last one's is kept: a client sends many requests in a row). */
export function clientAddress (record: DecisionRecord): string | null {
  const address = record.client?.address
  if (typeof address !== 'string' || address === '') return null
  if (address !== lastAddress) {
    lastLogged = maskText(address).slice(0, 64)
    lastAddress = address
  }
  return lastLogged
}

function requestOf (input: PolicyInput | null): DecisionEntry['request'] {
  return {
    method: input?.request.method ?? null,
    path: input?.request.path ?? null,
    scheme: input?.request.scheme ?? null
  }
}

function safeId (value: string | null | undefined): string | null {
  return value === null || value === undefined ? null : maskText(value)
}
