import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Authorizer } from '../authorizer/authorizer.js'
import type { AuthorizerEvent } from '../authorizer/options.js'
import type { DecisionRecord } from '../authorizer/result.js'
import type { PolicySource } from '../policy/source.js'

export interface ServerMetrics {
  readonly registry: Registry
  /** Pass as the authorizer's `onDecision` (or call from it). */
  observeDecision(record: DecisionRecord): void
  /** Pass as the authorizer's `onEvent`. */
  observeCacheEvent(event: AuthorizerEvent): void
  /** Pass to the policy reloader's `onReload` and `onError`. */
  observePolicyReload(outcome: 'success' | 'failure'): void
  /** The policy source whose revision `keygate_policy_revision_info` shows. */
  watchPolicy(source: PolicySource): void
  /** The authorizer whose cache hits, misses and sizes are exported. */
  watchCaches(authorizer: Pick<Authorizer, 'cacheStats'>): void
  /** Decisions of this process so far, by HTTP status (what `keygate_decisions_total` exports). */
  decisionsByStatus(): Map<number, number>
}

/** A registry of its own per server, so that several servers in one process (tests) do not collide. */
export function createMetrics (): ServerMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'keygate_' })
  // Counted in plain numbers, read at scrape time: cheaper per decision than prom-client's labelled inc().
  const decisionCounts = new Map<string, { labels: { status: string; code: string }; count: number }>()
  new Counter({ // eslint-disable-line no-new
    name: 'keygate_decisions_total',
    help: 'Authorization decisions by HTTP status and code',
    labelNames: ['status', 'code'] as const,
    registers: [registry],
    collect () {
      this.reset()
      for (const { labels, count } of decisionCounts.values()) this.inc(labels, count)
    }
  })
  const latency = new Histogram({
    name: 'keygate_decision_duration_seconds',
    help: 'Time to decide one request: credential, store lookups (or cache), policy',
    labelNames: ['status'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry]
  })
  const evaluation = new Histogram({
    name: 'keygate_policy_evaluation_duration_seconds',
    help: 'Time spent in the policy (WebAssembly) for one decision; it blocks the event loop',
    buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
    registers: [registry]
  })
  const reloads = new Counter({
    name: 'keygate_policy_reloads_total',
    help: 'Policy bundles loaded after the first (success), or refused while the last good policy stayed (failure)',
    labelNames: ['result'] as const,
    registers: [registry]
  })
  reloads.inc({ result: 'success' }, 0)
  reloads.inc({ result: 'failure' }, 0)
  let policy: PolicySource | null = null
  new Gauge({ // eslint-disable-line no-new
    name: 'keygate_policy_revision_info',
    help: 'The revision of the policy deciding now (value 1)',
    labelNames: ['revision'] as const,
    registers: [registry],
    collect () {
      this.reset()
      if (policy !== null) this.set({ revision: policy.status().revision }, 1)
    }
  })
  let caches: Pick<Authorizer, 'cacheStats'> | null = null
  const cacheFigure = (name: string, help: string, field: 'hits' | 'misses' | 'size', Metric: typeof Counter | typeof Gauge): void => {
    new Metric({ // eslint-disable-line no-new
      name,
      help,
      labelNames: ['cache'] as const,
      registers: [registry],
      collect () {
        this.reset()
        if (caches === null) return
        for (const [cache, stats] of Object.entries(caches.cacheStats())) {
          if (this instanceof Counter) this.inc({ cache }, stats[field])
          else (this as Gauge).set({ cache }, stats[field])
        }
      }
    })
  }
  cacheFigure('keygate_cache_hits_total', 'Lookups of keys, accounts and children by e-mail answered from the cache', 'hits', Counter)
  cacheFigure('keygate_cache_misses_total', 'Lookups that went to the store', 'misses', Counter)
  cacheFigure('keygate_cache_entries', 'Entries held by each cache (bounded by its max)', 'size', Gauge)
  const invalidations = new Counter({
    name: 'keygate_cache_invalidations_total',
    help: 'Store changes (from any instance) that dropped cached keys or accounts, by kind',
    labelNames: ['type'] as const,
    registers: [registry]
  })
  const resyncs = new Counter({
    name: 'keygate_cache_resyncs_total',
    help: 'Times every cache was cleared because change notifications may have been missed',
    registers: [registry]
  })
  const stale = new Counter({
    name: 'keygate_cache_stale_served_total',
    help: 'Keys or accounts served past their TTL because the store failed (stale-if-error)',
    labelNames: ['cache'] as const,
    registers: [registry]
  })
  const listenLost = new Counter({
    name: 'keygate_cache_listen_lost_total',
    help: 'Times the connection that listens for changes was lost (the caches hold nothing until it is back)',
    registers: [registry]
  })
  const limitSyncFailures = new Counter({
    name: 'keygate_limit_sync_failures_total',
    help: 'Syncs of the rate-limit counters with the store that failed after one that worked (the counts are kept and sent with the next)',
    registers: [registry]
  })
  const listenFailures = new Counter({
    name: 'keygate_cache_listen_failures_total',
    help: 'Failed attempts to subscribe to change notifications (retried with backoff)',
    registers: [registry]
  })
  const rateLimited = new Counter({
    name: 'keygate_rate_limited_total',
    help: 'Requests answered 429, by reason: throttled_client and throttled_prefix (failed authentications), or the policy\'s reason code for a rate limit or quota',
    labelNames: ['reason'] as const,
    registers: [registry]
  })
  return {
    registry,
    observeDecision ({ result, durationMs, policyMs, throttled }) {
      if (result.status === 429) rateLimited.inc({ reason: throttled !== undefined ? `throttled_${throttled.by}` : result.reasons[0]?.code ?? 'rate_limited' })
      const status = String(result.status)
      const key = `${status} ${result.code}`
      const counted = decisionCounts.get(key)
      if (counted === undefined) decisionCounts.set(key, { labels: { status, code: result.code }, count: 1 })
      else counted.count++
      latency.observe({ status }, durationMs / 1000)
      if (policyMs > 0) evaluation.observe(policyMs / 1000)
    },
    observeCacheEvent (event) {
      switch (event.type) {
        case 'invalidated': invalidations.inc({ type: event.change.type }); break
        case 'listen_lost': listenLost.inc(); break
        case 'resync': resyncs.inc(); break
        case 'stale': stale.inc({ cache: event.cache }); break
        case 'listen_failed': listenFailures.inc(); break
        case 'limit_sync_failed': limitSyncFailures.inc(); break
      }
    },
    observePolicyReload (outcome) {
      reloads.inc({ result: outcome })
    },
    watchPolicy (source) {
      policy = source
    },
    watchCaches (authorizer) {
      caches = authorizer
    },
    decisionsByStatus () {
      const byStatus = new Map<number, number>()
      for (const { labels, count } of decisionCounts.values()) byStatus.set(Number(labels.status), (byStatus.get(Number(labels.status)) ?? 0) + count)
      return byStatus
    }
  }
}
