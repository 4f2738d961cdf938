import t from 'tap'
import { createAuditMetrics, DecisionLog, type LogEntry, type Sink } from '../../src/audit/index.js'
import { fakeClock } from '../helpers/clock.js'

function entry (i: number): LogEntry {
  return { kind: 'decision', id: `d-${i}`, decision_id: `d-${i}` } as LogEntry
}

class MemorySink implements Sink {
  readonly name = 'memory'
  readonly written: LogEntry[] = []
  failing = false
  /** Resolve to let the current write finish. */
  gate: Promise<void> | null = null
  closed = false
  async write (entries: readonly LogEntry[]): Promise<void> {
    if (this.gate !== null) await this.gate
    if (this.failing) throw new Error('sink down')
    this.written.push(...entries)
  }

  async close (): Promise<void> { this.closed = true }
}

const options = (sink: Sink, extra: Partial<ConstructorParameters<typeof DecisionLog>[0]> = {}): ConstructorParameters<typeof DecisionLog>[0] => ({
  sinks: [sink], bufferSize: 8, batchSize: 4, flushIntervalMs: 10, sampleEvery: 2, metrics: createAuditMetrics(), ...extra
})

t.test('under pressure: allowed reads sampled at half, dropped at three quarters; the rest waits for room', async (t) => {
  const clock = fakeClock(t)
  const sink = new MemorySink()
  let open: () => void = () => {}
  sink.gate = new Promise((resolve) => { open = resolve })
  const log = new DecisionLog(options(sink))
  t.teardown(async () => { await log.close() })

  // The first batch of four is taken for writing and hangs on the gate; it still counts toward the depth.
  for (let i = 0; i < 4; i++) t.equal(log.append(entry(i), false), undefined)
  t.equal(log.depth, 4)
  // From half full (4): one in two kept.
  t.equal(log.append(entry(4), false), undefined) // kept (1st)
  t.equal(log.append(entry(5), false), undefined) // sampled out
  t.equal(log.append(entry(6), false), undefined) // kept
  t.equal(log.depth, 6)
  t.equal(log.append(entry(7), false), undefined) // dropped: 6 ≥ 3/4 of 8
  t.match(log.stats, { logged: 6, sampled: 1, dropped: 1 })

  // Entries that must be kept use the reserve, then wait.
  t.equal(log.append(entry(100), true), undefined)
  t.equal(log.append(entry(101), true), undefined)
  t.equal(log.depth, 8)
  let admitted = 0
  const waits = [log.append(entry(102), true), log.append(entry(103), true)]
  for (const w of waits) {
    t.type(w, Promise, 'no room: the caller waits')
    void (w as Promise<void>).then(() => { admitted++ })
  }
  // Ten flush intervals go by: each kicks a write, and the stuck one holds them all.
  for (let i = 0; i < 10; i++) {
    clock.advance(10)
    await Promise.resolve()
  }
  t.equal(admitted, 0, 'still waiting while the sink is stuck')
  sink.gate = null
  open()
  await Promise.all(waits)
  t.equal(admitted, 2)
  await log.flush()
  t.same(sink.written.map((e) => e.id), ['d-0', 'd-1', 'd-2', 'd-3', 'd-4', 'd-6', 'd-100', 'd-101', 'd-102', 'd-103'], 'in order, nothing kept lost')
  t.match(log.stats, { logged: 10, sampled: 1, dropped: 1, written: 10, lost: 0 })
})

t.test('a failing sink keeps its batch and retries it; nothing is written twice', async (t) => {
  const sink = new MemorySink()
  const other = new MemorySink()
  const errors: string[] = []
  let reported: () => void = () => {}
  const firstError = new Promise<void>((resolve) => { reported = resolve })
  const log = new DecisionLog({ ...options(sink), sinks: [other, sink], onError: (_e, context) => { errors.push(context); reported() } })
  t.teardown(async () => { await log.close() })
  sink.failing = true
  // A full batch is written at once; the failing sink reports it.
  for (let i = 0; i < 4; i++) log.append(entry(i), true)
  await firstError
  t.match(errors, [/^writing 4 entries to the memory sink$/], 'the failure is reported')
  t.equal(sink.written.length, 0)
  t.equal(other.written.length, 4, 'the healthy sink got the batch once')
  sink.failing = false
  await log.flush()
  t.equal(sink.written.length, 4)
  t.equal(other.written.length, 4, 'and not again on retry')
})

t.test('close writes what is buffered, gives up on a dead sink after its timeout, and counts the loss', async (t) => {
  const sink = new MemorySink()
  const log = new DecisionLog(options(sink, { closeTimeoutMs: 100, flushIntervalMs: 60_000 }))
  log.append(entry(1), true)
  log.append(entry(2), false)
  await log.close()
  t.equal(sink.written.length, 2)
  t.ok(sink.closed)

  const dead = new MemorySink()
  dead.failing = true
  const errors: string[] = []
  const doomed = new DecisionLog(options(dead, { closeTimeoutMs: 100, onError: (_e, c) => { errors.push(c) } }))
  doomed.append(entry(1), true)
  await doomed.close()
  t.equal(doomed.stats.lost, 1)
  t.ok(errors.includes('close'))
  doomed.append(entry(2), true)
  t.equal(doomed.stats.lost, 2, 'after close, nothing is accepted')
})

t.test('options are checked at construction', async (t) => {
  const sink = new MemorySink()
  t.throws(() => new DecisionLog({ ...options(sink), sinks: [] }), TypeError)
  t.throws(() => new DecisionLog({ ...options(sink), batchSize: 9 }), TypeError)
})
