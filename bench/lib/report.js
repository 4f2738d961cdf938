// What every bench script prints last: one line "BENCH_RESULT <json>", read by bench/run.js.
import { median } from './stats.js'

export const SMALL = process.argv.includes('--small')

export function log (...args) {
  process.stderr.write(args.join(' ') + '\n')
}

/**
 * rows: { figure, name, value, unit, baseline?: { name, value }, ratio?, target?, met?, note? }
 * details: anything else worth keeping (per-round samples, settings).
 */
export function report (script, rows, details = {}) {
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ script, rows, details })}\n`)
}

/**
 * Runs fn(target) for every target in turn, `rounds` times (round-robin, so
 * that drift and noise from other processes hit every target alike); returns
 * every sample per target name.
 */
export async function alternate (targets, rounds, fn) {
  const samples = Object.fromEntries(targets.map((t) => [t.name, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      const sample = await fn(target, round)
      samples[target.name].push(sample)
    }
  }
  return samples
}

/** Median of one field over samples. */
export function med (samples, field) {
  return median(samples.map((s) => typeof field === 'function' ? field(s) : s[field]))
}

export function round (value, digits = 0) {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
