/**
 * The gRPC recipes in examples/ (Envoy's grpc_service, Istio's CUSTOM
 * provider) parse, and say what Keygate serves: the service and health names,
 * the port, HTTP/2, the headers it reads, fail-closed settings.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { parse } from 'yaml'
import { CREDENTIAL_HEADERS } from '../../src/credentials/parse.js'
import { AUTHORIZATION_SERVICE } from '../../src/server/grpc.js'

const read = (path: string): any => parse(readFileSync(new URL(`../../examples/${path}`, import.meta.url), 'utf8'))
const GRPC_PORT = 9191

t.test('examples/envoy/envoy-grpc.yaml', async (t) => {
  const config = read('envoy/envoy-grpc.yaml')
  const manager = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config
  const filters = manager.http_filters
  t.same(filters.map((f: { name: string }) => f.name), ['envoy.filters.http.ext_authz', 'envoy.filters.http.router'], 'ext_authz before the router')
  const authz = filters[0].typed_config
  t.equal(authz.transport_api_version, 'V3')
  t.equal(authz.failure_mode_allow, false, 'fails closed')
  t.same(authz.status_on_error, { code: 'ServiceUnavailable' })
  t.notOk(authz.http_service, 'the gRPC service, not the HTTP one')
  t.same(authz.allowed_headers.patterns.map((p: { exact: string }) => p.exact).sort(), [...CREDENTIAL_HEADERS].sort(), 'every header Keygate reads, no other')

  const clusters = Object.fromEntries(config.static_resources.clusters.map((c: { name: string }) => [c.name, c]))
  const grpc = clusters[authz.grpc_service.envoy_grpc.cluster_name]
  t.ok(grpc, 'the grpc_service names a cluster')
  t.ok(grpc.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options, 'HTTP/2')
  t.equal(grpc.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, GRPC_PORT)
  t.equal(grpc.health_checks[0].grpc_health_check.service_name, AUTHORIZATION_SERVICE, 'the health service knows that name')
  t.match(readFileSync(new URL('../../examples/envoy/envoy-grpc.yaml', import.meta.url), 'utf8'), `KEYGATE_GRPC_PORT=${GRPC_PORT}`)

  const routes = manager.route_config.virtual_hosts[0].routes
  const own = new RegExp(routes[0].match.safe_regex.regex)
  for (const path of ['/api/v1/partner/user/list', '/api/v1/token/create', '/api/v1/session/create', '/admin/v1/user/create', '/.well-known/jwks.json']) {
    t.match(path, own, `${path}: Keygate's own API, not checked`)
  }
  for (const path of ['/api/v1/bot/list', '/v1/bot/list', '/api/v1/tokenx/list']) t.notMatch(path, own, `${path}: checked`)
  t.equal(routes[0].typed_per_filter_config['envoy.filters.http.ext_authz'].disabled, true)
  t.ok(clusters[routes[0].route.cluster], 'Keygate\'s own API has its (HTTP) cluster')
  t.equal(routes[1].route.cluster, 'api')
  const format = manager.access_log[0].typed_config.log_format.text_format_source.inline_string as string
  for (const [, key] of format.matchAll(/%DYNAMIC_METADATA\(envoy\.filters\.http\.ext_authz:(\w+)\)%/g)) {
    t.ok(['subject', 'actor', 'key_id', 'credential_type', 'decision_id'].includes(key as string), `the access log reads ${key}, which Keygate sends`)
  }
})

t.test('examples/istio: the mesh provider and the CUSTOM policy name each other', async (t) => {
  const mesh = read('istio/mesh-config.yaml')
  const policy = read('istio/authorization-policy.yaml')
  const provider = mesh.spec.meshConfig.extensionProviders[0]
  t.equal(provider.envoyExtAuthzGrpc.port, GRPC_PORT)
  t.equal(provider.envoyExtAuthzGrpc.failOpen, false, 'fails closed')
  t.equal(provider.envoyExtAuthzGrpc.statusOnError, '503')
  t.match(provider.envoyExtAuthzGrpc.service, /\.svc\.cluster\.local$/)
  t.equal(policy.apiVersion, 'security.istio.io/v1')
  t.equal(policy.kind, 'AuthorizationPolicy')
  t.equal(policy.spec.action, 'CUSTOM')
  t.equal(policy.spec.provider.name, provider.name)
  t.same(policy.spec.rules, [{}], 'every request of the workload is checked')
})
