import t from 'tap'
import { AuditConfigError, DEFAULT_AUDIT_CONFIG, loadAuditConfig, parseSinks } from '../../src/audit/index.js'

t.test('defaults: the decision log in the store, 30 days', async (t) => {
  t.same(loadAuditConfig({}), DEFAULT_AUDIT_CONFIG)
  t.same(DEFAULT_AUDIT_CONFIG.sinks, [{ type: 'postgres' }])
  t.equal(DEFAULT_AUDIT_CONFIG.retentionDays, 30)
})

t.test('KEYGATE_DECISION_LOG: sinks combined by commas, or off', async (t) => {
  t.same(parseSinks('off'), [])
  t.same(parseSinks('postgres, stdout ,file:/var/log/keygate/decisions.jsonl'),
    [{ type: 'postgres' }, { type: 'stdout' }, { type: 'file', path: '/var/log/keygate/decisions.jsonl' }])
  t.same(parseSinks('STDOUT'), [{ type: 'stdout' }])
  for (const bad of ['kafka', 'file:', 'off,stdout', 'stdout,stdout', ',']) t.throws(() => parseSinks(bad), Error, bad)
})

t.test('every problem is reported together', async (t) => {
  const env = {
    KEYGATE_DECISION_LOG: 'syslog',
    KEYGATE_DECISION_LOG_BUFFER: '3',
    KEYGATE_DECISION_LOG_RETENTION_DAYS: '-1',
    KEYGATE_SECURITY_UNAUTHENTICATED_BURST: 'lots',
    KEYGATE_SECURITY_IMPERSONATION_BURST: '3/0'
  }
  const error = t.throws(() => loadAuditConfig(env)) as AuditConfigError
  t.type(error, AuditConfigError)
  t.equal(error.problems.length, 5)
  t.match(error.message, /KEYGATE_DECISION_LOG="syslog"/)
  t.match(error.message, /KEYGATE_SECURITY_UNAUTHENTICATED_BURST="lots": expected COUNT\/SECONDS/)
  t.throws(() => loadAuditConfig({ KEYGATE_DECISION_LOG_BUFFER: '100', KEYGATE_DECISION_LOG_BATCH: '200' }), /must not exceed/)
})

t.test('values', async (t) => {
  const config = loadAuditConfig({
    KEYGATE_DECISION_LOG: 'stdout',
    KEYGATE_DECISION_LOG_BUFFER: '2000',
    KEYGATE_DECISION_LOG_BATCH: '100',
    KEYGATE_DECISION_LOG_RETENTION_DAYS: '0',
    KEYGATE_SECURITY_UNAUTHENTICATED_BURST: '50/300',
    KEYGATE_SECURITY_PLAIN_HTTP_SECONDS: '0'
  })
  t.match(config, {
    sinks: [{ type: 'stdout' }],
    bufferSize: 2000,
    batchSize: 100,
    retentionDays: 0,
    security: { unauthenticatedBurst: { threshold: 50, windowSeconds: 300 }, plainHttpSeconds: 0, impersonationBurst: { threshold: 5, windowSeconds: 60 } }
  })
})
