import t from 'tap'
import { forwardedRequest } from '../../src/adapters/forward-auth.js'

t.test('each proxy style names the request', async (t) => {
  t.same(forwardedRequest('GET', '/v1/forward-auth', { 'x-original-method': ['post'], 'x-original-uri': ['/api/v1/bot/create?a=1'] }),
    { ok: true, method: 'POST', path: '/api/v1/bot/create' }, 'nginx')
  t.same(forwardedRequest('GET', '/v1/forward-auth', { 'x-forwarded-method': ['DELETE'], 'x-forwarded-uri': ['/api/v1/bot/x/delete'] }),
    { ok: true, method: 'DELETE', path: '/api/v1/bot/x/delete' }, 'Traefik, Caddy')
  t.same(forwardedRequest('PUT', '/v1/forward-auth/api/v1/bot/list?x#y', {}),
    { ok: true, method: 'PUT', path: '/api/v1/bot/list' }, 'Envoy')
  t.same(forwardedRequest('GET', '/v1/forward-auth/', {}), { ok: true, method: 'GET', path: '/' })
  t.same(forwardedRequest('GET', '/v1/forward-auth', { 'x-forwarded-uri': ['/a'], 'x-original-uri': [' /a?b '] }),
    { ok: true, method: 'GET', path: '/a' }, 'sources that agree')
})

t.test('a client cannot smuggle a second answer past the proxy', async (t) => {
  const refused = [
    forwardedRequest('GET', '/v1/forward-auth', {}),
    forwardedRequest('GET', '/v1/forward-auth?x=/api', {}),
    forwardedRequest('GET', '/v1/forward-auth', { 'x-forwarded-uri': ['/api/v1/bot/list'], 'x-original-uri': ['/api/v1/bot/delete'] }),
    forwardedRequest('GET', '/v1/forward-auth', { 'x-forwarded-uri': ['/api/v1/bot/list', '/api/v1/bot/delete'] }),
    forwardedRequest('GET', '/v1/forward-auth/api/v1/bot/delete', { 'x-forwarded-uri': ['/api/v1/bot/list'] }),
    forwardedRequest('GET', '/v1/forward-auth', { 'x-original-uri': ['/a'], 'x-forwarded-method': ['GET'], 'x-original-method': ['POST'] }),
    forwardedRequest('GET', '/v1/forward-auth', { 'x-original-uri': ['/a'], 'x-forwarded-uri': [''] })
  ]
  for (const result of refused) {
    t.equal(result.ok, false)
    if (!result.ok) t.type(result.problem, 'string')
  }
})
