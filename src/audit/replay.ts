import { catalogueRouteOf } from '../policy/catalogue.js'
import type { PolicyEngine } from '../policy/engine.js'
import { PolicyFault } from '../policy/errors.js'
import type { DecisionEntry } from './entry.js'
import { InvalidValueError } from '../store/errors.js'
import type { AuditStore } from './store.js'

export const DEFAULT_REPLAY_LIMIT = 1_000
export const MAX_REPLAY_LIMIT = 10_000
/** Decisions made before the policy ran (throttled) have no policy answer to compare with. */
const NOT_BY_POLICY = new Set(['authentication_throttled'])

export interface ReplayOptions {
  /** Only decisions recorded from then on. */
  since?: Date
  /** The newest this many recorded decisions (default DEFAULT_REPLAY_LIMIT, at most MAX_REPLAY_LIMIT). */
  limit?: number
}

/** What a decision came to: the parts of it a policy change can change. */
export interface ReplayOutcome {
  allow: boolean
  status: number
  code: string
  reasons: string[]
}

export interface ReplayChange {
  decisionId: string
  /** RFC 3339, when it was recorded. */
  timestamp: string
  method: string
  path: string
  /** The catalogue route (`POST /api/v1/bot/{botId}/delete`), else the method and path. */
  route: string
  subject: string | null
  actor: string | null
  /** The policy revision it was recorded under. */
  revision: string
  recorded: ReplayOutcome
  replayed: ReplayOutcome
  /** What differs: `allow`, `status`, `code`, `reasons`. */
  changed: Array<keyof ReplayOutcome>
}

export interface ReplayReport {
  /** The candidate bundle's revision. */
  revision: string
  since: string | null
  limit: number
  /** Recorded decisions read from the log. */
  read: number
  /** Of those, decided again by the candidate (the rest had no policy input: 503s, throttled 429s). */
  replayed: number
  /** Decisions the candidate policy could not make (a fault: it would answer 503). */
  faults: number
  changes: ReplayChange[]
  /** Changed decisions by route, most first. */
  byRoute: Array<{ route: string; changed: number; toDeny: number; toAllow: number }>
  /** Reason codes the candidate adds or drops, over the changed decisions, most first. */
  byReason: Array<{ reason: string; added: number; removed: number }>
}

/**
 * Replays the policy inputs of the last recorded decisions (newest first)
 * against a candidate policy and lists every decision that would come out
 * differently: allow↔deny, status, code, reason codes.
 */
export async function replayDecisions (audit: Pick<AuditStore, 'list'>, candidate: PolicyEngine, options: ReplayOptions = {}): Promise<ReplayReport> {
  const limit = replayLimit(options.limit)
  const report: ReplayReport = {
    revision: candidate.revision, since: options.since?.toISOString() ?? null, limit, read: 0, replayed: 0, faults: 0, changes: [], byRoute: [], byReason: []
  }
  let cursor: string | null = null
  do {
    const page = await audit.list({ kind: 'decision', from: options.since, cursor, take: Math.min(100, limit - report.read) })
    for (const entry of page.items) {
      report.read++
      if (entry.kind !== 'decision' || entry.input === null || entry.result.reasons.some((r) => NOT_BY_POLICY.has(r.code))) continue
      report.replayed++
      const change = replayOne(entry, candidate)
      if (change === 'fault') report.faults++
      else if (change !== null) report.changes.push(change)
    }
    cursor = page.nextCursor
  } while (cursor !== null && report.read < limit)
  report.byRoute = countByRoute(report.changes)
  report.byReason = countByReason(report.changes)
  return report
}

export function replayLimit (limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_REPLAY_LIMIT
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_REPLAY_LIMIT) throw new InvalidValueError(`limit must be a whole number from 1 to ${MAX_REPLAY_LIMIT}`)
  return limit
}

function replayOne (entry: DecisionEntry, candidate: PolicyEngine): ReplayChange | 'fault' | null {
  const input = entry.input
  if (input === null) return null
  let replayed: ReplayOutcome
  try {
    const d = candidate.evaluate(input)
    replayed = { allow: d.allow, status: d.status, code: d.code, reasons: d.reasons.map((r) => r.code).sort() }
  } catch (error) {
    if (error instanceof PolicyFault) return 'fault'
    throw error
  }
  const recorded: ReplayOutcome = {
    allow: entry.result.allow, status: entry.result.status, code: entry.result.code, reasons: entry.result.reasons.map((r) => r.code).sort()
  }
  const changed = (['allow', 'status', 'code', 'reasons'] as const).filter((field) =>
    field === 'reasons' ? recorded.reasons.join(',') !== replayed.reasons.join(',') : recorded[field] !== replayed[field])
  if (changed.length === 0) return null
  const { method, path } = input.request
  const route = catalogueRouteOf(method, path)
  return {
    decisionId: entry.decision_id,
    timestamp: entry.timestamp,
    method,
    path,
    route: route === null ? `${method} ${path}` : `${route.method} ${route.template}`,
    subject: entry.subject,
    actor: entry.actor,
    revision: entry.bundles.keygate.revision,
    recorded,
    replayed,
    changed: [...changed]
  }
}

function countByRoute (changes: readonly ReplayChange[]): ReplayReport['byRoute'] {
  const counts = new Map<string, ReplayReport['byRoute'][number]>()
  for (const c of changes) {
    const row = counts.get(c.route) ?? { route: c.route, changed: 0, toDeny: 0, toAllow: 0 }
    row.changed++
    if (c.recorded.allow && !c.replayed.allow) row.toDeny++
    if (!c.recorded.allow && c.replayed.allow) row.toAllow++
    counts.set(c.route, row)
  }
  return [...counts.values()].sort((a, b) => b.changed - a.changed || (a.route < b.route ? -1 : 1))
}

function countByReason (changes: readonly ReplayChange[]): ReplayReport['byReason'] {
  const counts = new Map<string, ReplayReport['byReason'][number]>()
  const row = (reason: string): ReplayReport['byReason'][number] => {
    const found = counts.get(reason) ?? { reason, added: 0, removed: 0 }
    counts.set(reason, found)
    return found
  }
  for (const c of changes) {
    for (const reason of new Set(c.replayed.reasons)) if (!c.recorded.reasons.includes(reason)) row(reason).added++
    for (const reason of new Set(c.recorded.reasons)) if (!c.replayed.reasons.includes(reason)) row(reason).removed++
  }
  return [...counts.values()].sort((a, b) => (b.added + b.removed) - (a.added + a.removed) || (a.reason < b.reason ? -1 : 1))
}
