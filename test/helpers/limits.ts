/** The RateLimit fields through a real proxy (test/limits/nginx.ts, caddy.ts): one setup, one 429. */
import type { Test } from 'tap'
import { setAccountLimits, setKeyLimits } from '../../src/manage/index.js'
import { startKeygate, startUpstream, type Proxy, type RunningKeygate, type startNginx, type Upstream } from './proxies.js'
import type { TestAccount } from './server.js'

export interface Limited {
  keygate: RunningKeygate
  upstream: Upstream
  front: Proxy
  /** An account with a quota of 1,000,000 a month. */
  limited: TestAccount
  /** An account whose key has a rate of 0 a minute: every request is refused. */
  exhausted: TestAccount
  /** An account without limits. */
  plain: TestAccount
}

/** Keygate and an API behind the proxy `start` runs, with the three accounts of `Limited`. */
export async function startLimited (t: Test, start: typeof startNginx): Promise<Limited> {
  const keygate = await startKeygate(t)
  const upstream = await startUpstream(t)
  const front = await start(t, { keygate, upstream })
  const limited = await keygate.account()
  const exhausted = await keygate.account()
  const plain = await keygate.account()
  await setAccountLimits(keygate.store, limited.id, { quota: { limit: 1_000_000, period: 'month' } })
  await setKeyLimits(keygate.store, exhausted.keyId, { rate: { limit: 0, windowSeconds: 60 } })
  keygate.authorizer.invalidate('all')
  return { keygate, upstream, front, limited, exhausted, plain }
}

/** The exhausted key's request: the client gets Keygate's 429 with Retry-After and the RateLimit fields; the API never sees it. */
export async function checkRefused (t: Test, { front, upstream, exhausted }: Limited): Promise<void> {
  const before = upstream.requests.length
  const refused = await fetch(`${front.url}/api/v1/bot/list`, { headers: exhausted.headers })
  t.equal(refused.status, 429)
  t.equal(await refused.text(), '{"message":"Too many requests","code":"RATE_LIMITED"}')
  t.match(refused.headers.get('retry-after'), /^\d+$/)
  t.equal(refused.headers.get('ratelimit-policy'), '"key:rate";q=0;w=60')
  t.match(refused.headers.get('ratelimit'), /^"key:rate";r=0;t=\d+$/)
  t.equal(upstream.requests.length, before, 'the API never saw it')
}
