// The gRPC load generator, in a process of its own (like load.js for
// autocannon): reads { address, request, connections, duration } as JSON on
// stdin, keeps `connections` Check calls in flight for `duration` seconds over
// a few HTTP/2 connections (as Envoy multiplexes its checks), and prints the
// same summary as load.js. A CheckResponse whose status is not OK counts as non2xx.
import { credentials, loadPackageDefinition } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { ROOT } from './proc.js'

const CHANNELS = 4

let input = ''
for await (const chunk of process.stdin) input += chunk
const { address, request, connections, duration } = JSON.parse(input)
const definition = loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [`${ROOT}proto`], keepCase: true, longs: String, defaults: false })
const { Authorization } = loadPackageDefinition(definition).envoy.service.auth.v3
const clients = Array.from({ length: CHANNELS }, () => new Authorization(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }))

const latencies = []
let non2xx = 0
let errors = 0
const check = (client) => new Promise((resolve) => {
  const started = process.hrtime.bigint()
  client.Check(request, (error, response) => {
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6)
    if (error !== null) errors++
    else if ((response.status?.code ?? 0) !== 0) non2xx++
    resolve()
  })
})
const deadline = Date.now() + duration * 1000
const started = performance.now()
await Promise.all(Array.from({ length: connections }, async (_, i) => {
  const client = clients[i % CHANNELS]
  while (Date.now() < deadline) await check(client)
}))
const seconds = (performance.now() - started) / 1000
for (const client of clients) client.close()
latencies.sort((a, b) => a - b)
const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 100) / 100
process.stdout.write(JSON.stringify({
  rps: latencies.length / seconds,
  requests: latencies.length,
  duration: seconds,
  latency: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length },
  non2xx,
  errors
}) + '\n')
