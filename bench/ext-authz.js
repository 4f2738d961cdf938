// Figure 8. Envoy's gRPC ext_authz (Authorization/Check) against HTTP
// forward-auth: the same Keygate process (one worker, decision log off), the
// same cached key and request, alternating rounds of the same run. HTTP: 50
// connections. gRPC: 52 calls in flight over 4 HTTP/2 connections (Envoy
// multiplexes its checks). The load generator, on the same shared cores as the
// server, must cost less than the server: h2load for both sides when it is
// installed (bench/lib/h2load-load.js, about 10 µs a request); else autocannon
// for HTTP and ghz (bench/lib/ghz-load.js, 150 µs or more a call) or a Node
// grpc-js loop (bench/lib/grpc-load.js, slower than the server it measures)
// for gRPC, which then measure the clients more than Keygate. Target: Check at
// least as fast as forward-auth.
import { connect } from 'node:http2'
import protobuf from 'protobufjs'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { startKeygate } from './lib/keygate.js'
import { ghzBinary } from './lib/ghz-load.js'
import { h2loadBinary } from './lib/h2load-load.js'
import { freePort } from './lib/proc.js'
import { med, report, round, SMALL } from './lib/report.js'
import { loadRounds } from './lib/rounds.js'

const ROUNDS = SMALL ? 3 : 5
const DURATION = SMALL ? 2 : 4
const CONNECTIONS = 50
const H2LOAD = h2loadBinary()
const GHZ = ghzBinary()
const loader = (name) => new URL(`./lib/${name}.js`, import.meta.url).pathname
const GRPC_LOAD = loader(H2LOAD !== null ? 'h2load-load' : GHZ !== null ? 'ghz-load' : 'grpc-load')
const LOAD_NAME = H2LOAD !== null ? 'h2load, both sides' : GHZ !== null ? 'autocannon and ghz' : 'autocannon and a Node grpc-js loop'
const PATH = '/api/v1/bot/bot_123/update'
const CHECK = '/envoy.service.auth.v3.Authorization/Check'
const root = new protobuf.Root()
root.resolvePath = (_origin, target) => new URL(`../proto/${target}`, import.meta.url).pathname
root.loadSync('envoy/service/auth/v3/external_auth.proto', { keepCase: true })
const CheckRequest = root.lookupType('envoy.service.auth.v3.CheckRequest')
const CheckResponse = root.lookupType('envoy.service.auth.v3.CheckResponse')

/** A length-prefixed gRPC message. */
function framed (bytes) {
  const prefix = Buffer.alloc(5)
  prefix.writeUInt32BE(bytes.length, 1)
  return Buffer.concat([prefix, bytes])
}

/** h2load sees HTTP statuses only: one Check, its gRPC status and its CheckResponse's must be OK. */
async function checkIsAllowed (port, body) {
  const session = connect(`http://127.0.0.1:${port}`)
  try {
    const { grpcStatus, message } = await new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': CHECK, 'content-type': 'application/grpc', te: 'trailers' })
      const chunks = []
      let grpcStatus
      stream.on('trailers', (trailers) => { grpcStatus = trailers['grpc-status'] })
      stream.on('data', (chunk) => chunks.push(chunk))
      stream.on('end', () => { resolve({ grpcStatus, message: Buffer.concat(chunks).subarray(5) }) })
      stream.on('error', reject)
      stream.end(body)
    })
    const code = CheckResponse.decode(message).status?.code ?? 0
    if (grpcStatus !== '0' || code !== 0) throw new Error(`the benchmark's Check is not allowed: grpc-status ${grpcStatus}, CheckResponse status ${code}`)
  } finally {
    session.close()
  }
}

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
          id: '1',
          method: 'POST',
          path: PATH,
          host: 'api.example.com',
          scheme: 'http',
          protocol: 'HTTP/1.1',
          headers: { ':authority': 'api.example.com', ':method': 'POST', ':path': PATH, authorization }
        }
      }
    }
  }
  const body = framed(CheckRequest.encode(CheckRequest.fromObject(checkRequest)).finish())
  const forwardAuthUrl = `${server.url}/v1/forward-auth`
  const targets = H2LOAD === null
    ? [
        { name: 'forward-auth', server, request: { url: forwardAuthUrl, headers: forwardHeaders(fx.key, PATH) } },
        { name: 'grpc-check', server, loader: GRPC_LOAD, request: { address: `127.0.0.1:${grpcPort}`, request: checkRequest } }
      ]
    : [
        { name: 'forward-auth', server, loader: GRPC_LOAD, request: { url: forwardAuthUrl, headers: forwardHeaders(fx.key, PATH), h1: true } },
        {
          name: 'grpc-check',
          server,
          loader: GRPC_LOAD,
          request: { url: `http://127.0.0.1:${grpcPort}${CHECK}`, headers: { 'content-type': 'application/grpc', te: 'trailers' }, body: body.toString('base64'), streams: 10 }
        }
      ]
  await checkIsAllowed(grpcPort, body)
  const samples = await loadRounds(targets, { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS })
  await checkIsAllowed(grpcPort, body)
  const grpc = samples['grpc-check']
  const http = samples['forward-auth']
  const ratio = med(grpc, 'rps') / med(http, 'rps')
  report('ext-authz', [{
    figure: 8,
    name: `gRPC ext_authz Check, cached key (1 process, decision log off; load: ${LOAD_NAME})`,
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
