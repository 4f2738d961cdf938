import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'
import type { DecisionRecord } from '../authorizer/result.js'

export interface ServerMetrics {
  readonly registry: Registry
  /** Pass as the authorizer's `onDecision` (or call from it). */
  observeDecision(record: DecisionRecord): void
}

/** A registry of its own per server, so that several servers in one process (tests) do not collide. */
export function createMetrics (): ServerMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'keygate_' })
  const decisions = new Counter({
    name: 'keygate_decisions_total',
    help: 'Authorization decisions by HTTP status and code',
    labelNames: ['status', 'code'] as const,
    registers: [registry]
  })
  const latency = new Histogram({
    name: 'keygate_decision_duration_seconds',
    help: 'Time to decide one request: credential, store lookups (or cache), policy',
    labelNames: ['status'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry]
  })
  return {
    registry,
    observeDecision ({ result, durationMs }) {
      const status = String(result.status)
      decisions.inc({ status, code: result.code })
      latency.observe({ status }, durationMs / 1000)
    }
  }
}
