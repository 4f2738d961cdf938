// The load generator, in a process of its own: reads one autocannon config as JSON
// on stdin and prints the result summary as JSON on stdout.
import autocannon from 'autocannon'

let input = ''
for await (const chunk of process.stdin) input += chunk
const config = JSON.parse(input)
const result = await autocannon({ ...config })
const { requests, latency, non2xx, errors, timeouts, statusCodeStats, duration } = result
process.stdout.write(JSON.stringify({
  rps: requests.total / duration,
  requests: requests.total,
  duration,
  latency: { p50: latency.p50, p90: latency.p90, p99: latency.p99, max: latency.max, mean: latency.mean },
  non2xx,
  errors,
  timeouts,
  statusCodes: statusCodeStats
}) + '\n')
