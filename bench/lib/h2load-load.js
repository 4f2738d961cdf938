// The load generator for figure 8 when nghttp2's h2load is installed
// (`apt-get install nghttp2-client`; H2LOAD names the binary): one C client
// for both sides, HTTP/1.1 for forward-auth and HTTP/2 for gRPC, that costs
// the shared cores about 10 µs a request where ghz costs 150 µs or more (the
// Go gRPC client, its JSON data templating). Reads { url, headers, body?
// (base64), h1, connections, streams, duration } on stdin (`streams` calls in
// flight on each of connections / streams HTTP/2 connections), prints load.js's
// summary. h2load sees HTTP statuses only: a gRPC status is checked by the
// caller before and after the run.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The h2load binary, or null. */
export function h2loadBinary () {
  const candidates = [process.env.H2LOAD, 'h2load'].filter(Boolean)
  return candidates.find((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0) ?? null
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  const { url, headers = {}, body, h1 = false, connections: inFlight, streams = 1, duration } = JSON.parse(input)
  const connections = Math.ceil(inFlight / streams)
  const bin = h2loadBinary()
  if (bin === null) throw new Error('h2load not found')
  const dir = mkdtempSync(join(tmpdir(), 'keygate-h2load-'))
  const log = join(dir, 'requests.tsv')
  const args = ['-D', String(duration), '-c', String(connections), '-m', String(streams), '-t', '1', `--log-file=${log}`]
  if (h1) args.push('--h1')
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`)
  if (body !== undefined) {
    writeFileSync(join(dir, 'body'), Buffer.from(body, 'base64'))
    args.push('-d', join(dir, 'body'))
  }
  const run = spawnSync(bin, [...args, url], { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 })
  if (run.status !== 0) throw new Error(`h2load exited with ${run.status}: ${run.stderr}${run.stdout}`)
  const seconds = Number(/finished in ([\d.]+)s/.exec(run.stdout)?.[1])
  const counts = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(run.stdout)
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(run.stdout)
  if (counts === null || codes === null || !(seconds > 0)) throw new Error(`h2load printed no summary: ${run.stdout}`)
  // One line per request: start (µs since the epoch), HTTP status, µs to the end of the response.
  const latencies = readFileSync(log, 'utf8').trim().split('\n').map((line) => Number(line.split('\t')[2]) / 1000).sort((a, b) => a - b)
  rmSync(dir, { recursive: true, force: true })
  const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 100) / 100
  const done = Number(counts[2])
  process.stdout.write(JSON.stringify({
    rps: done / seconds,
    requests: done,
    duration: seconds,
    latency: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length },
    non2xx: done - Number(codes[1]),
    // Requests cut when the run ends are not failures; a connection refused or reset is.
    errors: Number(counts[5]) > connections * streams ? Number(counts[5]) : 0
  }) + '\n')
}
