/** The RateLimit headers and the 429 through Caddy, running examples/caddy/Caddyfile. */
import t from 'tap'
import { checkRefused, startLimited } from '../helpers/limits.js'
import { startCaddy } from '../helpers/proxies.js'
import { missing } from '../helpers/requires.js'

t.test('Caddy passes the RateLimit headers, and Keygate\'s 429 with Retry-After, to the client', async (t) => {
  if (missing(t, 'caddy')) return
  const setup = await startLimited(t, startCaddy)
  const { front, upstream, limited, plain } = setup

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

  await checkRefused(t, setup)
})
