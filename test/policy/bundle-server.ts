/**
 * The bundle server's contract, as docs/policy.md states it: the token sent as
 * Bearer, bundles over 32 MiB or slower than 10 s refused, errors backing off
 * up to 5 min.
 */
import t from 'tap'
import { PolicyBundleError } from '../../src/policy/errors.js'
import { BUNDLE_SERVER_LIMITS, PolicyReloader } from '../../src/policy/reloader.js'
import { builtBundle, bundleServer } from '../helpers/bundles.js'
import { fakeClock } from '../helpers/clock.js'

const MiB = 1024 * 1024

t.test('KEYGATE_POLICY_BUNDLE_TOKEN is sent as a bearer token', async (t) => {
  const server = await bundleServer(t, builtBundle(), { token: 's3cret-bundle-token' })
  const reloader = await PolicyReloader.open({ bundle: server.url, pollSeconds: 0, token: 's3cret-bundle-token' })
  t.teardown(async () => { await reloader.close() })
  t.equal(server.answered.get(200), 1, 'the server accepted it')
  await t.rejects(PolicyReloader.open({ bundle: server.url, pollSeconds: 0, token: 'another' }), { name: 'PolicyBundleError', message: /answered 401/ })
  await t.rejects(PolicyReloader.open({ bundle: server.url, pollSeconds: 0 }), { name: 'PolicyBundleError', message: /answered 401/ })
})

t.test('a bundle over 32 MiB is refused, declared or not', async (t) => {
  t.equal(BUNDLE_SERVER_LIMITS.maxBundleBytes, 32 * MiB)
  const server = await bundleServer(t, Buffer.alloc(32 * MiB + 1))
  await t.rejects(PolicyReloader.open({ bundle: server.url, pollSeconds: 0 }), { name: 'PolicyBundleError', message: `policy bundle from ${server.url} is larger than ${32 * MiB} bytes` },
    'a Content-Length over the limit')
  // No Content-Length: counted while it arrives.
  const chunk = Buffer.alloc(MiB)
  server.serve((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/gzip' })
    for (let i = 0; i < 32; i++) response.write(chunk)
    response.end(Buffer.alloc(1))
  })
  await t.rejects(PolicyReloader.open({ bundle: server.url, pollSeconds: 0 }), { name: 'PolicyBundleError', message: /is larger than 33554432 bytes/ },
    'a streamed body over the limit')
  server.serve(Buffer.alloc(32 * MiB))
  const exactly = await PolicyReloader.open({ bundle: server.url, pollSeconds: 0 }).catch((error: unknown) => error)
  t.type(exactly, PolicyBundleError)
  t.notMatch((exactly as Error).message, /larger than/, '32 MiB itself is within the limit (and refused only as no bundle)')
})

t.test('a download slower than the request timeout (10 s by default) is refused, body and all', async (t) => {
  t.equal(BUNDLE_SERVER_LIMITS.requestTimeoutMs, 10_000)
  const server = await bundleServer(t, builtBundle())
  // The headers come at once, the body never ends.
  server.serve((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/gzip' })
    response.write(builtBundle().subarray(0, 100))
  })
  await t.rejects(PolicyReloader.open({ bundle: server.url, pollSeconds: 0, requestTimeoutMs: 300 }), { name: 'PolicyBundleError', message: /download of the policy bundle .* failed/ })
  // No answer at all.
  server.serve(() => {})
  await t.rejects(PolicyReloader.open({ bundle: server.url, pollSeconds: 0, requestTimeoutMs: 300 }), { name: 'PolicyBundleError', message: /cannot download the policy bundle/ })
})

t.test('errors back off: the poll interval doubles with each failure in a row, up to 5 min, and is back once the server answers', async (t) => {
  const clock = fakeClock(t)
  const bundle = builtBundle()
  const polls: number[] = []
  let failing = false
  const fakeFetch = (async () => {
    polls.push(performance.now())
    if (failing) throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    return polls.length === 1 ? new Response(new Uint8Array(bundle), { status: 200, headers: { etag: '"v1"' } }) : new Response(null, { status: 304 })
  }) as typeof fetch
  const reloader = await PolicyReloader.open({ bundle: 'http://bundles.invalid/keygate.tar.gz', pollSeconds: 30, fetch: fakeFetch, onError: () => {} })
  t.teardown(async () => { await reloader.close() })
  // A second at a time, letting the poll that fell due (a few promise turns) finish and schedule the next; polls land within a second.
  const advanceSeconds = async (seconds: number): Promise<void> => {
    for (let i = 0; i < seconds; i++) {
      clock.advance(1000)
      for (let j = 0; j < 5; j++) await Promise.resolve()
    }
  }
  const intervals = (): number[] => polls.slice(1).map((at, i) => (at - polls[i]!) / 1000)
  await advanceSeconds(30)
  t.same(intervals(), [30], 'polled after 30 s')
  failing = true
  await advanceSeconds(30 + 66 + 132 + 264 + 330 + 330 + 330)
  const backoff = intervals().slice(1)
  t.ok(backoff.length >= 6, `polls while failing: ${backoff.join(', ')} s`)
  // ±10 % jitter around 30 s · 2^failures, capped at 5 min.
  const expected = [30, 60, 120, 240, 300, 300, 300]
  backoff.forEach((seconds, i) => {
    const nominal = expected[i] ?? 300
    t.ok(seconds >= nominal * 0.9 - 1 && seconds <= nominal * 1.1 + 1, `poll ${i + 1}: ${seconds} s after the last, about ${nominal} s`)
  })
  failing = false
  const before = polls.length
  for (let waited = 0; polls.length === before && waited <= 330; waited++) await advanceSeconds(1)
  t.equal(polls.length, before + 1, 'the next poll comes at most 5 min (and its jitter) on, and succeeds')
  await advanceSeconds(62)
  const after = intervals().slice(before)
  t.equal(after.length, 2, 'after a success: two polls in a minute')
  t.ok(after.every((seconds) => seconds >= 30 && seconds <= 31), `every 30 s again (${after.join(', ')} s)`)
})
