import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import proxyAddr from '@fastify/proxy-addr'
import type { Authorizer } from '../authorizer/authorizer.js'
import { FORWARD_AUTH_HEADERS, forwardAuth, type ForwardAuthCheck } from './forward-auth.js'
import { headerPicker, internalError, type HttpAnswer } from './http.js'

/**
 * Whom to believe about X-Forwarded-For and X-Forwarded-Proto, as Fastify's
 * `trustProxy` reads it: everyone (`true`), no one, or the proxies' addresses
 * and CIDR ranges. (A hop count cannot tell a proxy from a client; Fastify
 * trusts no one for one, and so does this.)
 */
export type TrustProxy = boolean | number | string | string[]

export interface ForwardAuthListenerOptions {
  authorizer: Pick<Authorizer, 'authorize'>
  /** Default false: the peer is the client, and the scheme is the connection's. */
  trustProxy?: TrustProxy
  /**
   * A pino-style logger: failures at `error`; a line per check at `debug` only,
   * since the decision log already records every check (with its decision id).
   */
  log?: RequestLog
}

export interface RequestLog {
  level: string
  debug(object: object, message: string): void
  error(object: object, message: string): void
}

/** The levels at which a line per check is written. */
export const LOGS_CHECKS: ReadonlySet<string> = new Set(['debug', 'trace'])

export type RequestListener = (request: IncomingMessage, response: ServerResponse) => void

/**
 * The forward-auth endpoint as a plain Node request listener, for
 * `http.createServer` or in front of any framework's handler: the checks a
 * proxy makes for every request are answered without a framework's routing,
 * hooks and reply objects, which cost more than the cached decision itself.
 * The body a proxy may forward is never read (Node discards it).
 */
export function forwardAuthListener (options: ForwardAuthListenerOptions): RequestListener {
  const { authorizer, log } = options
  const trust = trustFunction(options.trustProxy ?? false)
  const pick = headerPicker([...FORWARD_AUTH_HEADERS, 'x-forwarded-proto', 'host'])
  return (request, response) => {
    const started = performance.now()
    const headers = pick(request.rawHeaders)
    const client = trust === null ? request.socket.remoteAddress ?? null : proxyAddr(request, trust)
    const check: ForwardAuthCheck = {
      method: request.method ?? 'GET',
      url: request.url ?? '/',
      headers,
      scheme: schemeOf(request, headers, trust),
      client: { address: client }
    }
    forwardAuth(authorizer, check).then(
      (answer) => {
        send(response, answer)
        if (log !== undefined && LOGS_CHECKS.has(log.level)) logCompleted(log, check, response, started)
      },
      (error: unknown) => {
        log?.error({ err: error }, 'request failed')
        send(response, internalError())
      }
    )
  }
}

function logCompleted (log: RequestLog, check: ForwardAuthCheck, response: ServerResponse, started: number): void {
  log.debug({
    // Never the query string: it may carry secrets.
    req: { method: check.method, url: check.url.split('?')[0], hostname: check.headers.host?.[0], ip: check.client.address },
    res: { statusCode: response.statusCode },
    responseTime: performance.now() - started
  }, 'request completed')
}

function send (response: ServerResponse, answer: HttpAnswer): void {
  if (response.headersSent) return
  response.writeHead(answer.status, answer.headers)
  response.end(answer.body)
}

/**
 * `https` when the connection is TLS or, when the peer is a trusted proxy,
 * when the last X-Forwarded-Proto value says so: what Fastify's
 * `request.protocol` answers under the same `trustProxy`.
 */
function schemeOf (request: IncomingMessage, headers: Record<string, string[] | undefined>, trust: Trust | null): 'http' | 'https' {
  const forwarded = headers['x-forwarded-proto']
  if (forwarded !== undefined && trust !== null && trust(request.socket.remoteAddress ?? '', 0)) {
    const values = forwarded.join(',').split(',')
    return (values[values.length - 1] as string).trim() === 'https' ? 'https' : 'http'
  }
  return (request.socket as TLSSocket).encrypted === true ? 'https' : 'http'
}

export type Trust = (address: string, hop: number) => boolean

/** Fastify's reading of `trustProxy`; null when no proxy is trusted. */
export function trustFunction (trustProxy: TrustProxy): Trust | null {
  if (trustProxy === false || typeof trustProxy === 'number') return null
  if (trustProxy === true) return () => true
  if (typeof trustProxy === 'string') return proxyAddr.compile(trustProxy.split(',').map((value) => value.trim()))
  return proxyAddr.compile(trustProxy)
}
