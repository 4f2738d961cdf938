// Figure 8. Envoy's gRPC ext_authz (Authorization/Check) against HTTP
// forward-auth: the same Keygate process (one worker, decision log off), the
// same cached key and request, alternating rounds of the same run. HTTP load:
// autocannon, 50 connections. gRPC load: 50 calls in flight over 4 HTTP/2
// connections (Envoy multiplexes its checks), by ghz when it is installed
// (bench/lib/ghz-load.js), else by a Node grpc-js loop (bench/lib/grpc-load.js),
// which is slower than the server it measures. Target: Check at least as fast
// as forward-auth.
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { startKeygate } from './lib/keygate.js'
import { ghzBinary } from './lib/ghz-load.js'
import { freePort } from './lib/proc.js'
import { med, report, round, SMALL } from './lib/report.js'
import { loadRounds } from './lib/rounds.js'

const ROUNDS = SMALL ? 3 : 5
const DURATION = SMALL ? 2 : 4
const CONNECTIONS = 50
const GHZ = ghzBinary()
const GRPC_LOAD = new URL(GHZ === null ? './lib/grpc-load.js' : './lib/ghz-load.js', import.meta.url).pathname
const PATH = '/api/v1/bot/bot_123/update'

const db = await throwawayDatabase('extauthz')
let server
try {
  const fx = await smallFixture(db.url)
  const grpcPort = await freePort()
  server = await startKeygate({ databaseUrl: db.url, secret: fx.secret, workers: 1, env: { KEYGATE_DECISION_LOG: 'off', KEYGATE_GRPC_PORT: String(grpcPort) } })
  const authorization = `Bearer ${fx.key}`
  // What Envoy sends with allowed_headers limited to the credential headers (examples/envoy/envoy-grpc.yaml).
  const checkRequest = {
    attributes: {
      source: { address: { socket_address: { address: '127.0.0.1', port_value: 40000 } } },
      request: {
        http: {
          id: '1', method: 'POST', path: PATH, host: 'api.example.com', scheme: 'http', protocol: 'HTTP/1.1',
          headers: { ':authority': 'api.example.com', ':method': 'POST', ':path': PATH, authorization }
        }
      }
    }
  }
  const targets = [
    { name: 'forward-auth', server, request: { url: `${server.url}/v1/forward-auth`, headers: forwardHeaders(fx.key, PATH) } },
    { name: 'grpc-check', server, loader: GRPC_LOAD, request: { address: `127.0.0.1:${grpcPort}`, request: checkRequest } }
  ]
  const samples = await loadRounds(targets, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS })
  const grpc = samples['grpc-check']
  const http = samples['forward-auth']
  const ratio = med(grpc, 'rps') / med(http, 'rps')
  report('ext-authz', [{
    figure: 8,
    name: `gRPC ext_authz Check, cached key (1 process, decision log off; load: ${GHZ === null ? 'Node grpc-js loop' : 'ghz'})`,
    value: round(med(grpc, 'rps')),
    unit: 'checks/s',
    p99: med(grpc, 'p99'),
    cpuUsPerRequest: round(med(grpc, 'cpuUsPerRequest'), 1),
    baseline: { name: 'HTTP forward-auth, same key and request (1 process, decision log off)', value: round(med(http, 'rps')), p99: med(http, 'p99'), cpuUsPerRequest: round(med(http, 'cpuUsPerRequest'), 1) },
    ratio: round(ratio, 2),
    target: '≥ 1.0×',
    met: ratio >= 1
  }], { rounds: ROUNDS, durationSeconds: DURATION, connections: CONNECTIONS, samples })
} finally {
  await server?.stop()
  await db.drop()
}
