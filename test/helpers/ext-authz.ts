/**
 * A gRPC client for Keygate's ext_authz and health services, built from the
 * upstream protos (Envoy's as @grpc/grpc-js-xds ships them, gRPC's health
 * service as grpc-health-check ships it), never from Keygate's own subset:
 * what it sends and reads is what Envoy and a health prober would.
 *
 *   const client = extAuthzClient(t, listener.address)
 *   const response = await client.check(httpRequest({ path: '/api/v1/bot/list', headers: parent.headers }))
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { credentials as grpcCredentials, Client, loadPackageDefinition, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js'
import { loadSync, type Options } from '@grpc/proto-loader'
import type { Test } from 'tap'

const require = createRequire(import.meta.url)
const XDS_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps')
/** Where the upstream .proto files are, for a protobufjs or proto-loader include path. */
export const UPSTREAM_INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((name) => join(XDS_DEPS, name))
export const UPSTREAM_HEALTH_PROTO = join(dirname(require.resolve('grpc-health-check/package.json')), 'proto/health/v1/health.proto')

// Enums as numbers for Envoy's messages (HTTP status codes), as names for the health service's.
const LOAD_OPTIONS: Options = { keepCase: true, longs: String, defaults: false }

type Constructor = new (address: string, credentials: ChannelCredentials, options?: object) => Client
let clients: { Authorization: Constructor; Health: Constructor } | undefined

function constructors (): { Authorization: Constructor; Health: Constructor } {
  clients ??= (() => {
    const envoy = loadPackageDefinition(loadSync('envoy/service/auth/v3/external_auth.proto', { ...LOAD_OPTIONS, includeDirs: UPSTREAM_INCLUDE_DIRS })) as any
    const health = loadPackageDefinition(loadSync(UPSTREAM_HEALTH_PROTO, { ...LOAD_OPTIONS, enums: String })) as any
    return { Authorization: envoy.envoy.service.auth.v3.Authorization, Health: health.grpc.health.v1.Health }
  })()
  return clients
}

export interface HttpRequestOptions {
  method?: string
  /** Path and query, as Envoy sends them. */
  path?: string
  headers?: Record<string, string>
  scheme?: string
  /** attributes.source.address */
  source?: string
  /** Send the headers as Envoy's `encode_raw_headers` does: header_map entries with raw_value bytes (repeats allowed). */
  raw?: Array<[string, string]>
}

/** A CheckRequest as Envoy builds one for an HTTP/1.1 request. */
export function checkRequest (options: HttpRequestOptions = {}): object {
  const method = options.method ?? 'GET'
  const path = options.path ?? '/api/v1/bot/list'
  const headers: Record<string, string> = { ':authority': 'api.example.com', ':method': method, ':path': path, ':scheme': options.scheme ?? 'https', 'user-agent': 'test', ...options.headers }
  const http: Record<string, unknown> = {
    id: '11213372850398471234',
    method,
    path,
    host: 'api.example.com',
    scheme: options.scheme ?? 'https',
    protocol: 'HTTP/1.1'
  }
  if (options.raw === undefined) http.headers = headers
  else http.header_map = { headers: options.raw.map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })) }
  return {
    attributes: {
      source: { address: { socket_address: { address: options.source ?? '203.0.113.7', port_value: 51234 } } },
      destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8000 } } },
      request: { time: { seconds: String(Math.floor(Date.now() / 1000)) }, http }
    }
  }
}

export interface HeaderOption { header: { key: string; value: string }; append?: { value: boolean }; append_action?: number }
export interface CheckResponse {
  status?: { code?: number; message?: string }
  ok_response?: { headers?: HeaderOption[]; headers_to_remove?: string[]; response_headers_to_add?: HeaderOption[] }
  denied_response?: { status?: { code?: number }; headers?: HeaderOption[]; body?: string }
  dynamic_metadata?: { fields?: Record<string, { stringValue?: string }> }
}

export interface ExtAuthzClient {
  check(request: object): Promise<CheckResponse>
  /** Any bytes as the request message. */
  checkBytes(bytes: Buffer): Promise<Buffer>
  health(service?: string): Promise<string>
  /** A health Watch: each status as it comes. */
  watch(service: string): { next(): Promise<string>; cancel(): void }
}

/** Clients closed when t ends; each has a connection of its own (no subchannel shared with another client). */
export function extAuthzClient (t: Test, address: string, credentials: ChannelCredentials = grpcCredentials.createInsecure(), channelOptions: object = {}): ExtAuthzClient {
  const { Authorization, Health } = constructors()
  const options = { 'grpc.use_local_subchannel_pool': 1, ...channelOptions }
  const authorization = new Authorization(address, credentials, options) as any
  const health = new Health(address, credentials, options) as any
  const raw = new Client(address, credentials, options)
  t.teardown(() => { authorization.close(); health.close(); raw.close() })
  const unary = async <T>(call: (callback: (error: ServiceError | null, value?: T) => void) => void): Promise<T> =>
    await new Promise<T>((resolve, reject) => { call((error, value) => { error === null ? resolve(value as T) : reject(error) }) })
  return {
    check: async (request) => await unary((callback) => authorization.Check(request, callback)),
    checkBytes: async (bytes) => await unary((callback) => raw.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', (b: Buffer) => b, (b: Buffer) => b, bytes, callback)),
    health: async (service = '') => (await unary<{ status: string }>((callback) => health.Check({ service }, callback))).status,
    watch (service) {
      const stream = health.Watch({ service })
      const queued: string[] = []
      const waiting: Array<{ resolve: (status: string) => void; reject: (error: Error) => void }> = []
      let failed: Error | null = null
      stream.on('data', (message: { status?: string }) => {
        const status = message.status ?? 'UNKNOWN'
        const waiter = waiting.shift()
        if (waiter === undefined) queued.push(status)
        else waiter.resolve(status)
      })
      stream.on('error', (error: Error) => {
        failed = error
        for (const waiter of waiting.splice(0)) waiter.reject(error)
      })
      t.teardown(() => { stream.cancel() })
      return {
        next: async () => {
          const status = queued.shift()
          if (status !== undefined) return status
          if (failed !== null) throw failed
          return await new Promise<string>((resolve, reject) => { waiting.push({ resolve, reject }) })
        },
        cancel: () => { stream.cancel() }
      }
    }
  }
}

/** The headers an OkHttpResponse sets, by name. */
export function setHeaders (response: CheckResponse): Record<string, string> {
  return Object.fromEntries((response.ok_response?.headers ?? []).map((option) => [option.header.key, option.header.value]))
}

/** A DeniedHttpResponse as forward-auth's answer would be compared: status, headers, body. */
export function deniedAnswer (response: CheckResponse): { status: number | undefined; headers: Record<string, string>; body: string | undefined } {
  const denied = response.denied_response
  return {
    status: denied?.status?.code,
    headers: Object.fromEntries((denied?.headers ?? []).map((option) => [option.header.key, option.header.value])),
    body: denied?.body
  }
}
