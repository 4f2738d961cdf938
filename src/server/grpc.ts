/**
 * The gRPC listener (KEYGATE_GRPC_PORT): Envoy's ext_authz `Authorization/Check`
 * and gRPC's health service, on a small gRPC layer over node:http2
 * (grpc-transport.ts) with protobufjs codecs. It decides with the HTTP
 * server's authorizer (same caches, memo and decision log). In a cluster
 * (KEYGATE_WORKERS) every worker binds the same port and node:cluster shares
 * it, as for the HTTP port: each new connection goes to one worker. Envoy
 * keeps its gRPC connections open, so the workers share the load only if
 * Envoy opens several (one per Envoy worker thread at least).
 */
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import type { Authorizer } from '../authorizer/authorizer.js'
import { checkFailed, checkResponseEncoder, extAuthzCheck, type CheckRequest, type CheckResponse } from '../adapters/ext-authz.js'
import { LOGS_CHECKS, type RequestLog, type TrustProxy } from '../adapters/node-http.js'
import { listenGrpcTransport, STATUS, type GrpcCall } from './grpc-transport.js'
import { storeAnswers } from './readiness.js'

export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url))
export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization'
const HEALTH_SERVICE = 'grpc.health.v1.Health'
/** How often a health Watch asks the store again while a watcher is connected. */
const WATCH_INTERVAL_MS = 5_000
/** How long a shutdown waits for calls in flight before it cuts the connections. */
const SHUTDOWN_GRACE_MS = 10_000
/** grpc.health.v1.HealthCheckResponse.ServingStatus */
const SERVING = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const

export interface GrpcServerOptions {
  authorizer: Pick<Authorizer, 'authorize' | 'store'>
  host: string
  port: number
  tls?: { cert: Buffer; key: Buffer }
  /** As the HTTP server's: who may state the scheme and the client address. */
  trustProxy?: TrustProxy
  removeAuthorization?: boolean
  /** A line per check at `debug` only, as forward-auth logs; faults at `error`, a store that does not answer the health service at `warn`. */
  log?: RequestLog & { warn(object: object, message: string): void }
  watchIntervalMs?: number
}

export interface GrpcListener {
  /** `host:port`, as a gRPC client dials it. */
  address: string
  port: number
  /** Refuses new calls, finishes those in flight (cut after a grace period), then stops. */
  close(): Promise<void>
}

interface Codecs {
  checkRequest: protobuf.Type
  checkResponse: protobuf.Type
  healthRequest: protobuf.Type
  healthResponse: protobuf.Type
}

/** The message types, loaded once per process from proto/ (protobufjs compiles a decoder and an encoder per type). */
let codecs: Codecs | undefined

function loadCodecs (): Codecs {
  codecs ??= (() => {
    const root = new protobuf.Root()
    root.resolvePath = (_origin, target) => PROTO_DIR + target
    root.loadSync(['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto'], { keepCase: true })
    root.resolveAll()
    return {
      checkRequest: root.lookupType('envoy.service.auth.v3.CheckRequest'),
      checkResponse: root.lookupType('envoy.service.auth.v3.CheckResponse'),
      healthRequest: root.lookupType('grpc.health.v1.HealthCheckRequest'),
      healthResponse: root.lookupType('grpc.health.v1.HealthCheckResponse')
    }
  })()
  return codecs
}

export async function listenGrpc (options: GrpcServerOptions): Promise<GrpcListener> {
  const { authorizer, log } = options
  const types = loadCodecs()
  const check = extAuthzCheck({ authorizer, trustProxy: options.trustProxy, removeAuthorization: options.removeAuthorization })
  const encode = (type: protobuf.Type, message: object): Uint8Array => type.encode(message as protobuf.Message).finish()
  const encodeAnswer = checkResponseEncoder((response) => encode(types.checkResponse, response))
  const decode = <T>(type: protobuf.Type, bytes: Buffer, call: GrpcCall): T | null => {
    try {
      return type.decode(bytes) as T
    } catch {
      call.end(STATUS.INTERNAL, `the request is no ${type.name}`)
      return null
    }
  }

  const authorize = (bytes: Buffer, call: GrpcCall): void => {
    const request = decode<CheckRequest>(types.checkRequest, bytes, call)
    if (request === null) return
    const started = performance.now()
    const peer = call.peer
    check(request, peer).then(
      (answer) => {
        call.reply(encodeAnswer(answer))
        if (log !== undefined && LOGS_CHECKS.has(log.level)) logCheck(log, request, peer.address, answer.response, started)
      },
      (error: unknown) => {
        log?.error({ err: error }, 'check failed')
        call.reply(encode(types.checkResponse, checkFailed()))
      }
    )
  }

  const probe = async (): Promise<number> =>
    await storeAnswers(authorizer.store, (error) => { log?.warn({ err: error }, 'health: the store did not answer') }) ? SERVING.SERVING : SERVING.NOT_SERVING
  const known = (service: string): boolean => service === '' || service === AUTHORIZATION_SERVICE
  const watchIntervalMs = options.watchIntervalMs ?? WATCH_INTERVAL_MS
  /** The watches open, each by what ends it with a status. */
  const watches = new Set<(code: number, details?: string) => void>()

  const healthCheck = (bytes: Buffer, call: GrpcCall): void => {
    const request = decode<{ service: string }>(types.healthRequest, bytes, call)
    if (request === null) return
    if (!known(request.service)) { call.end(STATUS.NOT_FOUND, 'unknown service'); return }
    void probe().then((status) => { call.reply(encode(types.healthResponse, { status })) })
  }

  const healthWatch = (bytes: Buffer, call: GrpcCall): void => {
    const request = decode<{ service: string }>(types.healthRequest, bytes, call)
    if (request === null) return
    if (!known(request.service)) {
      // The call stays open: the service may appear (gRPC's health protocol).
      call.send(encode(types.healthResponse, { status: SERVING.SERVICE_UNKNOWN }))
    }
    let last: number | null = null
    let timer: NodeJS.Timeout | undefined
    const stop = (code: number, details?: string): void => {
      clearTimeout(timer)
      watches.delete(stop)
      call.end(code, details)
    }
    watches.add(stop)
    call.onAbort(() => { stop(STATUS.CANCELLED) })
    if (!known(request.service)) return
    const update = async (): Promise<void> => {
      const status = await probe()
      if (call.done) return
      if (status !== last) call.send(encode(types.healthResponse, { status }))
      last = status
      timer = setTimeout(() => { void update() }, watchIntervalMs)
    }
    void update()
  }

  const transport = await listenGrpcTransport({
    host: options.host,
    port: options.port,
    tls: options.tls,
    methods: {
      [`/${AUTHORIZATION_SERVICE}/Check`]: authorize,
      [`/${HEALTH_SERVICE}/Check`]: healthCheck,
      [`/${HEALTH_SERVICE}/Watch`]: healthWatch
    }
  })
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  return {
    address: `${host}:${transport.port}`,
    port: transport.port,
    async close () {
      // A watch never ends by itself: it ends with the server, as the service going away.
      await transport.close(SHUTDOWN_GRACE_MS, () => {
        for (const stop of watches) stop(STATUS.UNAVAILABLE, 'the server is shutting down')
      })
    }
  }
}

function logCheck (log: RequestLog, request: CheckRequest, ip: string | null, response: CheckResponse, started: number): void {
  const http = request.attributes?.request?.http
  log.debug({
    // Never the query string: it may carry secrets.
    req: { method: http?.method, url: http?.path?.split('?')[0], hostname: http?.host, ip, grpc: 'Check' },
    res: { statusCode: response.denied_response?.status.code ?? 200, grpcStatus: response.status.code },
    responseTime: performance.now() - started
  }, 'check completed')
}
