// Keygate's HTTP layer without its decision: the real Fastify app (buildApp,
// same routes, hooks and settings as `keygate serve`, no logger) whose
// authorizer answers a fixed allow at once. What figure 1 compares it with
// shows how much of the gap to the hello world is the HTTP layer and how much
// the decision. Prints its URL when listening.
import { buildApp } from '../../dist/server/app.js'
import { createMetrics } from '../../dist/server/metrics.js'

const result = Object.freeze({
  allow: true,
  status: 200,
  code: 'OK',
  reasons: [],
  subject: 'usr_00000000000000000001',
  actor: null,
  credential: { type: 'secret_key', id: 'key_00000000000000000001', prefix: 'sk-000000' },
  action: { resource: 'bot', verb: 'update', class: 'write' },
  decisionId: '00000000-0000-4000-8000-000000000000',
  policyRevision: 'canned'
})
const unused = () => { throw new Error('not part of this benchmark') }
const authorizer = {
  authorize: async () => ({ ...result }),
  explain: unused,
  invalidate: () => {},
  cacheStats: () => ({}),
  close: async () => {},
  store: { database: { query: unused } },
  policy: { revision: 'canned' },
  policySource: { current: () => ({ revision: 'canned' }), status: () => ({ revision: 'canned' }) }
}
const app = buildApp({ authorizer, metrics: createMetrics(), sessions: { mint: unused, end: unused, jwks: async () => ({ keys: [] }) } })
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`${url}\n`)
process.on('SIGTERM', () => { app.close().then(() => process.exit(0)) })
