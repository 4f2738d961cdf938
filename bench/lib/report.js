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
 * Runs fn(target) for every target in turn, `rounds` times, the order
 * reversed every other round (A B, B A, …: drift and noise from other
 * processes hit every target alike, and no target is always the one run
 * right after another); returns every sample per target name.
 */
export async function alternate (targets, rounds, fn) {
  const samples = Object.fromEntries(targets.map((t) => [t.name, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const target of round % 2 === 1 ? targets : [...targets].reverse()) {
      const sample = await fn(target, round)
      samples[target.name].push(sample)
    }
  }
  return samples
}

/**
 * The median over rounds of one round's ratio (a target's field against the
 * baseline's in the same round): two runs back to back share the machine's
 * state of the moment, which the ratio of two medians over a noisy run does
 * not.
 */
export function pairedRatio (samples, baseline, field = 'rps') {
  return median(samples.map((s, i) => s[field] / baseline[i][field]))
}

/** Median of one field over samples. */
export function med (samples, field) {
  return median(samples.map((s) => typeof field === 'function' ? field(s) : s[field]))
}

export function round (value, digits = 0) {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
