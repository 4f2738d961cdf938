// The gRPC load generator when ghz is installed (`go install
// github.com/bojand/ghz/cmd/ghz@v0.120.0`; GHZ names the binary, default
// `ghz` on PATH or in ~/go/bin): same protocol as grpc-load.js, a Go client
// that costs the shared cores less than Node's. Reads { address, request,
// connections, duration } on stdin, prints load.js's summary.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from './proc.js'

/** The ghz binary, or null. */
export function ghzBinary () {
  const candidates = [process.env.GHZ, 'ghz', join(homedir(), 'go/bin/ghz')].filter(Boolean)
  return candidates.find((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0) ?? null
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  const { address, request, connections, duration } = JSON.parse(input)
  const file = join(mkdtempSync(join(tmpdir(), 'keygate-ghz-')), 'request.json')
  writeFileSync(file, JSON.stringify(request))
  const bin = ghzBinary()
  if (bin === null || !existsSync(file)) throw new Error('ghz not found')
  const run = spawnSync(bin, [
    '--insecure', '--proto', `${ROOT}proto/envoy/service/auth/v3/external_auth.proto`, '--import-paths', `${ROOT}proto`,
    '--call', 'envoy.service.auth.v3.Authorization/Check', '-D', file,
    '-c', String(connections), '--connections', '4', '-z', `${duration}s`, '--format', 'json', address
  ], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 })
  if (run.status !== 0) throw new Error(`ghz exited with ${run.status}: ${run.stderr}`)
  const result = JSON.parse(run.stdout)
  const at = (q) => Math.round((result.latencyDistribution?.find((d) => d.percentage === q)?.latency ?? NaN) / 1e4) / 100
  const ok = result.statusCodeDistribution?.OK ?? 0
  process.stdout.write(JSON.stringify({
    rps: ok / (result.total / 1e9),
    requests: ok,
    duration: result.total / 1e9,
    latency: { p50: at(50), p90: at(90), p99: at(99), max: Math.round(result.slowest / 1e4) / 100, mean: Math.round(result.average / 1e4) / 100 },
    non2xx: 0,
    // The calls cut when the run ends (ghz closes its connections under them) are not failures.
    errors: Object.entries(result.statusCodeDistribution ?? {}).filter(([code]) => code !== 'OK' && code !== 'Canceled').reduce((sum, [, n]) => sum + n, 0) > connections ? 1 : 0
  }) + '\n')
}
