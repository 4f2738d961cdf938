/**
 * A fake clock until t ends: Date, performance.now() and the timers move only
 * when the test says so (clock-mock, the library @tapjs/clock wraps).
 *
 *   const clock = fakeClock(t)
 *   const log = new DecisionLog(…)   // made after: its timers are the clock's
 *   clock.advance(10)                // fires what was due within 10 ms
 *
 * Only for code that does no real I/O meanwhile: database drivers and sockets
 * keep real time and would see none of it.
 */
import { Clock } from 'clock-mock'
import type { Test } from 'tap'

export function fakeClock (t: Test): Clock {
  const clock = new Clock()
  clock.enter()
  t.teardown(() => { clock.exit() })
  return clock
}
