import { Counter, Gauge, type Registry } from 'prom-client'

/** The audit stage's Prometheus metrics (examples/prometheus/alerts.yml alerts on them). */
export interface AuditMetrics {
  impersonations: Counter<'outcome'>
  securityEvents: Counter<'event'>
  logged: Counter<string>
  sampled: Counter<string>
  dropped: Counter<string>
  writeErrors: Counter<'sink'>
  usageErrors: Counter<string>
  bufferDepth: Gauge<string>
  waiting: Gauge<string>
}

/** Registers on the given registry (the server's), or on a registry of its own. */
export function createAuditMetrics (registry?: Registry): AuditMetrics {
  const registers = registry === undefined ? [] : [registry]
  return {
    impersonations: new Counter({
      name: 'keygate_impersonations_total',
      help: 'Requests that asked to act as another account (X-RunAs-*), by outcome: allowed, refused (403), unauthenticated (401)',
      labelNames: ['outcome'] as const,
      registers
    }),
    securityEvents: new Counter({
      name: 'keygate_security_events_total',
      help: 'Security events recorded, by event (revoked_key_presented, expired_key_presented, unauthenticated_burst, authentication_throttled, impersonation_refused_burst, credential_over_plain_http)',
      labelNames: ['event'] as const,
      registers
    }),
    logged: new Counter({
      name: 'keygate_decision_log_logged_total',
      help: 'Decision-log entries accepted for writing (decisions and security events)',
      registers
    }),
    sampled: new Counter({
      name: 'keygate_decision_log_sampled_total',
      help: 'Allowed reads left out of the decision log by sampling while its buffer was filling up',
      registers
    }),
    dropped: new Counter({
      name: 'keygate_decision_log_dropped_total',
      help: 'Allowed reads left out of the decision log because its buffer was full (denials and impersonations are never dropped)',
      registers
    }),
    writeErrors: new Counter({
      name: 'keygate_decision_log_write_errors_total',
      help: 'Failed decision-log writes, by sink; the batch is retried',
      labelNames: ['sink'] as const,
      registers
    }),
    usageErrors: new Counter({
      name: 'keygate_key_usage_write_errors_total',
      help: 'Failed key-usage writes; the counts are kept and retried',
      registers
    }),
    bufferDepth: new Gauge({
      name: 'keygate_decision_log_buffer_depth',
      help: 'Decision-log entries in memory, waiting to be written',
      registers
    }),
    waiting: new Gauge({
      name: 'keygate_decision_log_waiting',
      help: 'Decisions waiting for room in the decision-log buffer (backpressure on denials and impersonations)',
      registers
    })
  }
}
