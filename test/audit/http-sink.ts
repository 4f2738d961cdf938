import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { createAuditMetrics, DecisionLog, type LogEntry } from '../../src/audit/index.js'
import { HttpSink, retryAfterMs } from '../../src/audit/http-sink.js'
import { startCollector, tally } from '../helpers/collector.js'
import { tempDir } from '../helpers/temp.js'

function entry (i: number, kind: 'decision' | 'security' = 'decision'): LogEntry {
  return {
    kind,
    id: `e-${i}`,
    decision_id: `d-${i}`,
    timestamp: new Date(1_900_000_000_000 + i).toISOString(),
    status: 403,
    code: 'FORBIDDEN',
    client_address: '203.0.113.9',
    path: 'keygate/authz/decision',
    input: { now: i },
    result: { allow: false }
  } as unknown as LogEntry
}

const sinkOptions = { timeoutMs: 2_000, headers: {}, tokenFile: null }

t.test('a batch is one POST of a gzip JSON array of OPA events, the entry\'s own fields unchanged', async (t) => {
  const collector = await startCollector(t)
  const sink = new HttpSink({ ...sinkOptions, url: collector.url, headers: { 'x-scope-orgid': 'tenant-1' } })
  await sink.write([entry(1), entry(2)])
  t.same(collector.problems, [])
  t.equal(collector.posts.length, 1)
  const [first, second] = collector.accepted
  t.same({ ...first, labels: undefined }, { ...entry(1), labels: undefined, requested_by: '203.0.113.9' }, 'every field of the entry, plus requested_by')
  t.match(first?.labels, { app: 'keygate', id: /^[0-9a-f-]{36}$/ })
  t.equal(first?.labels.id, second?.labels.id, 'one instance id per process')
  t.equal(collector.posts[0]?.headers['x-scope-orgid'], 'tenant-1', 'the configured headers are sent')
})

t.test('every entry arrives once through 5xx, connection refused and recovery; never-dropped ones all, droppable ones sampled and counted', async (t) => {
  const collector = await startCollector(t)
  const errors: string[] = []
  const sink = new HttpSink({ ...sinkOptions, url: collector.url })
  const log = new DecisionLog({
    sinks: [sink], bufferSize: 64, batchSize: 8, flushIntervalMs: 10, sampleEvery: 4, metrics: createAuditMetrics(), onError: (error) => { errors.push((error as Error).message) }
  })
  t.teardown(async () => { await log.close() })
  const kept = new Set<string>()
  const pending: Array<Promise<void>> = []
  let next = 0
  const burst = (count: number): void => {
    for (let i = 0; i < count; i++, next++) {
      // One in three must be kept (a denial, say); the others are allowed reads.
      const keep = next % 3 === 0
      if (keep) kept.add(`d-${next}/e-${next}`)
      const waited = log.append(entry(next), keep)
      if (waited !== undefined) pending.push(waited)
    }
  }

  burst(40)
  await collector.waitFor(1)
  collector.answer = () => 503
  burst(100)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(collector.posts.some((post) => post.status === 503), 'the collector failed some POSTs')
  await collector.stop()
  burst(100)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.ok(errors.some((message) => /ECONNREFUSED/.test(message)), 'then refused connections')
  t.ok(log.stats.sampled + log.stats.dropped > 0, 'under pressure, droppable entries were left out')
  t.ok(pending.length > 0, 'never-dropped entries waited for room (backpressure)')
  collector.answer = () => 204
  await collector.start()
  await Promise.all(pending)
  await log.flush()

  const { distinct, duplicates } = tally(collector.accepted)
  t.same(duplicates, [], 'no entry arrived twice')
  t.same([...kept].filter((key) => !distinct.has(key)), [], 'every never-dropped entry arrived')
  const stats = log.stats
  t.equal(stats.logged + stats.sampled + stats.dropped, next, 'each entry accepted or counted as left out')
  t.equal(distinct.size, stats.logged, 'every accepted entry arrived')
  t.equal(stats.lost, 0)
  t.same(collector.problems, [])
})

t.test('a 413 splits the batch; the part accepted is not sent again when the rest is retried', async (t) => {
  const collector = await startCollector(t)
  let refuseAfterFirst = true
  collector.answer = (post) => {
    if (post.events.length > 3) return 413
    // The second small POST of the batch fails once: the retry must not resend the first.
    if (refuseAfterFirst && collector.accepted.length === 3) {
      refuseAfterFirst = false
      return 502
    }
    return 200
  }
  const sink = new HttpSink({ ...sinkOptions, url: collector.url })
  const batch = Array.from({ length: 10 }, (_, i) => entry(i))
  await t.rejects(sink.write(batch), /answered 502/)
  await sink.write(batch)
  t.same(tally(collector.accepted).duplicates, [])
  t.equal(collector.accepted.length, 10)
  t.ok(collector.posts.filter((post) => post.status === 200).every((post) => post.events.length <= 3))
  await sink.write([entry(20), entry(21)])
  t.equal(collector.posts.at(-1)?.events.length, 2, 'later batches use the smaller size from the start')

  collector.answer = () => 413
  await t.rejects(sink.write([entry(30)]), /413 to a single entry/, 'one entry too large: an error, kept for retry')
})

t.test('Retry-After delays the next attempt; a 4xx is kept and retried, never dropped', async (t) => {
  const collector = await startCollector(t)
  const times: number[] = []
  let refusals = 0
  collector.answer = () => {
    times.push(Date.now())
    refusals++
    if (refusals === 1) return { status: 429, headers: { 'retry-after': '1' } }
    if (refusals === 2) return 400
    return 200
  }
  const errors: string[] = []
  const log = new DecisionLog({
    sinks: [new HttpSink({ ...sinkOptions, url: collector.url })], bufferSize: 16, batchSize: 4, flushIntervalMs: 10, sampleEvery: 1, metrics: createAuditMetrics(), onError: (error) => { errors.push((error as Error).message) }
  })
  t.teardown(async () => { await log.close() })
  for (let i = 0; i < 4; i++) log.append(entry(i), true)
  await collector.waitFor(4, 10_000)
  t.ok((times[1] as number) - (times[0] as number) >= 900, 'the retry waited for Retry-After (1 s) rather than the 100 ms backoff')
  t.match(errors, [/answered 429; retried/, /answered 400 .*kept and retried, never dropped/])
  t.equal(collector.accepted.length, 4)

  t.equal(retryAfterMs('120', 0), 120_000)
  t.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6_000)
  t.equal(retryAfterMs('soon', 0), null)
  t.equal(retryAfterMs(null, 0), null)
})

t.test('a collector that does not answer: the POST times out and is retried', async (t) => {
  const collector = await startCollector(t)
  collector.answer = () => collector.posts.length === 1 ? 'hang' : 204
  const sink = new HttpSink({ ...sinkOptions, timeoutMs: 200, url: collector.url })
  await t.rejects(sink.write([entry(1)]), /no answer within 200 ms/)
  await sink.write([entry(1)])
  t.equal(collector.accepted.length, 1)
})

t.test('credentials: headers, a token file read for every POST, user:password in the URL; none of them in any message', async (t) => {
  const collector = await startCollector(t)
  const dir = tempDir(t, 'collector-token')
  const tokenFile = join(dir, 'token')
  await writeFile(tokenFile, 'first-token\n')
  const sink = new HttpSink({ ...sinkOptions, url: collector.url, tokenFile })
  await sink.open()
  await sink.write([entry(1)])
  await writeFile(tokenFile, 'rotated-token')
  await sink.write([entry(2)])
  t.same(collector.posts.map((post) => post.headers.authorization), ['Bearer first-token', 'Bearer rotated-token'])

  const basic = new HttpSink({ ...sinkOptions, url: collector.url.replace('http://', 'http://keygate:s%3Acret@') + '?api_key=querysecret' })
  await basic.write([entry(3)])
  t.equal(collector.posts.at(-1)?.headers.authorization, `Basic ${Buffer.from('keygate:s:cret').toString('base64')}`)
  t.equal(collector.posts.at(-1)?.url, '/logs?api_key=querysecret')
  collector.problems.length = 0 // the query string is not the collector's path

  await collector.stop()
  const messages: string[] = []
  const secretHolders = [
    new HttpSink({ ...sinkOptions, url: collector.url.replace('http://', 'http://keygate:hunter2@') + '?api_key=querysecret' }),
    new HttpSink({ ...sinkOptions, url: collector.url, headers: { authorization: 'Bearer headersecret' } })
  ]
  for (const holder of secretHolders) {
    t.notMatch(holder.where, /hunter2|querysecret|keygate@/)
    const log = new DecisionLog({ sinks: [holder], bufferSize: 8, batchSize: 4, flushIntervalMs: 10, sampleEvery: 1, metrics: createAuditMetrics(), closeTimeoutMs: 100, onError: (error, context) => { messages.push(`${context}: ${(error as Error).message}`) } })
    log.append(entry(9), true)
    await log.close()
  }
  t.ok(messages.length >= 2)
  t.notMatch(messages.join('\n'), /hunter2|querysecret|headersecret/, 'no credential in any message')

  await writeFile(tokenFile, 'two words')
  await t.rejects(sink.open(), /must hold one token/)
  await t.rejects(new HttpSink({ ...sinkOptions, url: collector.url, tokenFile: join(dir, 'missing') }).open(), /cannot read KEYGATE_DECISION_LOG_TOKEN_FILE .*ENOENT/)
})
