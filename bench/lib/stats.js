export function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Nearest-rank percentile of a sorted copy; p in [0, 100]. */
export function percentile (values, p) {
  if (values.length === 0) return NaN
  const sorted = values instanceof Float64Array ? values.slice().sort() : Float64Array.from(values).sort()
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

const times = new Float64Array(4_000_000)

/**
 * Calls fn(n) back to back for `seconds`, awaiting each (figures 3 and 6):
 * calls per second of this process's CPU time (what one core does, even when
 * other processes take turns on it), per second of wall time, and latency
 * percentiles in µs (of the first 4,000,000 calls).
 */
export async function measureCalls (fn, seconds) {
  let n = 0
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const end = start + seconds * 1000
  let now = start
  while (now < end) {
    const t0 = now
    await fn(n)
    now = performance.now()
    if (n < times.length) times[n] = now - t0
    n++
  }
  const cpu = process.cpuUsage(cpu0)
  const sample = times.subarray(0, Math.min(n, times.length))
  return { rate: n / ((cpu.user + cpu.system) / 1e6), wallRate: n / ((now - start) / 1000), p50: percentile(sample, 50) * 1000, p99: percentile(sample, 99) * 1000 }
}
