/** The RateLimit headers and the 429 through Caddy, running examples/caddy/Caddyfile. */
import t from 'tap'
import { setAccountLimits, setKeyLimits } from '../../src/manage/index.js'
import { missing } from '../helpers/requires.js'
import { startKeygate, startCaddy, startUpstream } from '../helpers/proxies.js'

t.test('Caddy passes the RateLimit headers, and Keygate\'s 429 with Retry-After, to the client', async (t) => {
  if (missing(t, 'caddy')) return
  const keygate = await startKeygate(t)
  const upstream = await startUpstream(t)
  const front = await startCaddy(t, { keygate, upstream })
  const limited = await keygate.account()
  const exhausted = await keygate.account()
  const plain = await keygate.account()
  await setAccountLimits(keygate.store, limited.id, { quota: { limit: 1_000_000, period: 'month' } })
  await setKeyLimits(keygate.store, exhausted.keyId, { rate: { limit: 0, windowSeconds: 60 } })
  keygate.authorizer.invalidate('all')

  const ok = await fetch(`${front.url}/api/v1/bot/list`, { headers: limited.headers })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('ratelimit-policy'), '"account:quota";q=1000000;w=2592000')
  t.match(ok.headers.get('ratelimit'), /^"account:quota";r=999999;t=\d+$/)
  const seen = upstream.requests.at(-1)
  t.match(seen?.headers, { 'x-keygate-user-id': limited.id, 'x-keygate-key-id': limited.keyId, 'x-keygate-credential': 'secret_key' }, 'the API still gets the identity')
  t.notOk(seen?.headers['x-keygate-actor-id'], 'no actor: none (or empty)')
  t.notOk(seen?.headers.ratelimit, 'the RateLimit fields are for the client, not the API')

  const none = await fetch(`${front.url}/api/v1/bot/list`, { headers: plain.headers })
  t.equal(none.status, 200)
  t.equal(none.headers.get('ratelimit-policy'), null, 'no limits, no headers')
  t.equal(none.headers.get('ratelimit'), null)
  const forged = await fetch(`${front.url}/api/v1/bot/list`, { headers: { ...plain.headers, ratelimit: '"key:rate";r=1000;t=1' } })
  t.equal(forged.headers.get('ratelimit'), null, 'a client\'s own RateLimit header is not echoed')
  t.match(upstream.requests.at(-1)?.headers, { 'x-keygate-user-id': plain.id })

  const before = upstream.requests.length
  const refused = await fetch(`${front.url}/api/v1/bot/list`, { headers: exhausted.headers })
  t.equal(refused.status, 429)
  t.equal(await refused.text(), '{"message":"Too many requests","code":"RATE_LIMITED"}')
  t.match(refused.headers.get('retry-after'), /^\d+$/)
  t.equal(refused.headers.get('ratelimit-policy'), '"key:rate";q=0;w=60')
  t.match(refused.headers.get('ratelimit'), /^"key:rate";r=0;t=\d+$/)
  t.equal(upstream.requests.length, before, 'the API never saw it')
})
