/** The RateLimit headers and the 429 through nginx, running examples/nginx/keygate.conf. */
import t from 'tap'
import { checkRefused, startLimited } from '../helpers/limits.js'
import { startNginx } from '../helpers/proxies.js'
import { missing } from '../helpers/requires.js'

t.test('nginx passes the RateLimit headers, and Keygate\'s 429 with Retry-After, to the client', async (t) => {
  if (missing(t, 'nginx')) return
  const setup = await startLimited(t, startNginx)
  const { front, limited, plain } = setup

  const ok = await fetch(`${front.url}/api/v1/bot/list`, { headers: limited.headers })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('ratelimit-policy'), '"account:quota";q=1000000;w=2592000')
  t.match(ok.headers.get('ratelimit'), /^"account:quota";r=999999;t=\d+$/)

  const none = await fetch(`${front.url}/api/v1/bot/list`, { headers: plain.headers })
  t.equal(none.status, 200)
  t.equal(none.headers.get('ratelimit-policy'), null, 'no limits, no headers')

  await checkRefused(t, setup)
})
