// The HTTP figures' measuring loop: autocannon against each target in turn,
// a warm-up first, then alternating rounds, with the server's CPU per request.
import { cpuMs, load } from './proc.js'
import { alternate, log } from './report.js'

/**
 * One run of `duration` seconds against target.request ({ url, method?,
 * headers?, body? }, or what target.loader reads): req/s, latency and the CPU
 * the target's process tree spent per request. Any non-2xx answer or error
 * fails the benchmark.
 */
export async function measure (target, { connections, duration }) {
  const before = cpuMs(target.server.pid)
  const result = await load({ ...target.request, connections, duration }, target.loader)
  const cpu = cpuMs(target.server.pid) - before
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`)
  return { rps: result.rps, requests: result.requests, p99: result.latency.p99, p50: result.latency.p50, cpuUsPerRequest: cpu * 1000 / result.requests }
}

/**
 * A one-second warm-up of every target, then `rounds` alternating runs; every
 * sample per target name. `before(target)` and `after(target, sample)`, when
 * given, run around each measured run (e.g. to add other processes' CPU).
 */
export async function loadRounds (targets, { rounds, duration, connections, before, after }) {
  log(`warming up ${targets.length} targets`)
  for (const target of targets) await measure(target, { connections, duration: 1 })
  const width = Math.max(...targets.map((t) => t.name.length)) + 2
  return await alternate(targets, rounds, async (target, r) => {
    await before?.(target)
    const s = await measure(target, { connections, duration })
    await after?.(target, s)
    log(`round ${r} ${target.name.padEnd(width)} ${String(Math.round(s.rps)).padStart(6)} req/s  p99 ${s.p99} ms  server CPU ${s.cpuUsPerRequest.toFixed(1)} µs/req`)
    return s
  })
}
