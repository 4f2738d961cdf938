/**
 * The gRPC listener (KEYGATE_GRPC_PORT): Envoy's ext_authz `Authorization/Check`
 * and gRPC's health service, on @grpc/grpc-js. It decides with the HTTP
 * server's authorizer (same caches, memo and decision log). In a cluster
 * (KEYGATE_WORKERS) every worker binds the same port and node:cluster shares
 * it, as for the HTTP port: each new connection goes to one worker. Envoy
 * keeps its gRPC connections open, so the workers share the load only if
 * Envoy opens several (one per Envoy worker thread at least).
 */
import { fileURLToPath } from 'node:url'
import { Server, ServerCredentials, status, type ServiceDefinition, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import type { Authorizer } from '../authorizer/authorizer.js'
import { checkFailed, extAuthzCheck, type CheckRequest, type CheckResponse } from '../adapters/ext-authz.js'
import { LOGS_CHECKS, type RequestLog, type TrustProxy } from '../adapters/node-http.js'
import { storeAnswers } from './readiness.js'

export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url))
export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization'
const HEALTH_SERVICE = 'grpc.health.v1.Health'
/** How often a health Watch asks the store again while a watcher is connected. */
const WATCH_INTERVAL_MS = 5_000
/** How long a shutdown waits for calls in flight before it cuts the connections. */
const SHUTDOWN_GRACE_MS = 10_000

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

/** The service definitions, loaded once per process from proto/. */
let definitions: { authorization: ServiceDefinition; health: ServiceDefinition } | undefined

export function grpcServices (): { authorization: ServiceDefinition; health: ServiceDefinition } {
  definitions ??= (() => {
    const loaded = loadSync(['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto'], {
      includeDirs: [PROTO_DIR],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false
    })
    return {
      authorization: loaded[AUTHORIZATION_SERVICE] as ServiceDefinition,
      health: loaded[HEALTH_SERVICE] as ServiceDefinition
    }
  })()
  return definitions
}


export async function listenGrpc (options: GrpcServerOptions): Promise<GrpcListener> {
  const { authorizer, log } = options
  const services = grpcServices()
  const tls = options.tls !== undefined
  const check = extAuthzCheck({ authorizer, trustProxy: options.trustProxy, removeAuthorization: options.removeAuthorization })
  const server = new Server()

  server.addService(services.authorization, {
    Check (call: ServerUnaryCall<CheckRequest, CheckResponse>, callback: sendUnaryData<CheckResponse>) {
      const started = performance.now()
      check(call.request, { address: peerAddress(call.getPeer()), tls }).then(
        (response) => {
          callback(null, response)
          if (log !== undefined && LOGS_CHECKS.has(log.level)) logCheck(log, call, response, started)
        },
        (error: unknown) => {
          log?.error({ err: error }, 'check failed')
          callback(null, checkFailed())
        }
      )
    }
  })

  const probe = async (): Promise<'SERVING' | 'NOT_SERVING'> =>
    await storeAnswers(authorizer.store, (error) => { log?.warn({ err: error }, 'health: the store did not answer') }) ? 'SERVING' : 'NOT_SERVING'
  const known = (service: string | undefined): boolean => service === undefined || service === '' || service === AUTHORIZATION_SERVICE
  const watchIntervalMs = options.watchIntervalMs ?? WATCH_INTERVAL_MS
  server.addService(services.health, {
    Check (call: ServerUnaryCall<{ service?: string }, { status: string }>, callback: sendUnaryData<{ status: string }>) {
      if (!known(call.request.service)) {
        callback({ code: status.NOT_FOUND, details: 'unknown service' })
        return
      }
      void probe().then((serving) => { callback(null, { status: serving }) })
    },
    Watch (call: ServerWritableStream<{ service?: string }, { status: string }>) {
      if (!known(call.request.service)) {
        call.write({ status: 'SERVICE_UNKNOWN' })
        return
      }
      let last: string | null = null
      let timer: NodeJS.Timeout | undefined
      const update = async (): Promise<void> => {
        const serving = await probe()
        if (call.cancelled) return
        if (serving !== last) call.write({ status: serving })
        last = serving
        timer = setTimeout(() => { void update() }, watchIntervalMs)
      }
      call.on('cancelled', () => { clearTimeout(timer) })
      void update()
    }
  })

  const credentials = options.tls === undefined
    ? ServerCredentials.createInsecure()
    : ServerCredentials.createSsl(null, [{ private_key: options.tls.key, cert_chain: options.tls.cert }], false)
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, credentials, (error, bound) => { error === null ? resolve(bound) : reject(error) })
  })
  return {
    address: `${host}:${port}`,
    port,
    async close () {
      await new Promise<void>((resolve) => {
        const cut = setTimeout(() => { server.forceShutdown() }, SHUTDOWN_GRACE_MS)
        server.tryShutdown(() => {
          clearTimeout(cut)
          resolve()
        })
      })
    }
  }
}

/** grpc-js names its peer `address:port`. */
function peerAddress (peer: string): string | null {
  const match = /^(.+):\d+$/.exec(peer)
  return match === null ? null : (match[1] as string)
}

function logCheck (log: RequestLog, call: ServerUnaryCall<CheckRequest, CheckResponse>, response: CheckResponse, started: number): void {
  const http = call.request.attributes?.request?.http
  log.debug({
    // Never the query string: it may carry secrets.
    req: { method: http?.method, url: http?.path?.split('?')[0], hostname: http?.host, ip: peerAddress(call.getPeer()), grpc: 'Check' },
    res: { statusCode: response.denied_response?.status.code ?? 200, grpcStatus: response.status.code },
    responseTime: performance.now() - started
  }, 'check completed')
}
