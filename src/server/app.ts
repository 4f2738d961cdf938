import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createRequire } from 'node:module'
import type { DestinationStream } from 'pino'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Authorizer } from '../authorizer/authorizer.js'
import type { Sessions } from '../sessions/index.js'
import { keygatePlugin } from '../adapters/fastify-plugin.js'
import { isForwardAuthUrl } from '../adapters/forward-auth.js'
import { forwardAuthListener, type RequestListener } from '../adapters/node-http.js'
import { clientErrorHandler, errorHandler, notFoundHandler } from './error-handler.js'
import type { ServerMetrics } from './metrics.js'
import { ConsoleSessions, DEFAULT_CONSOLE_TIMEOUTS, type ConsoleTimeouts } from '../console/sessions.js'
import { adminRoutes } from './routes/admin.js'
import { consolePlugin } from './routes/console.js'
import { auditRoutes } from './routes/audit.js'
import { decisionRoutes } from './routes/decision.js'
import { forwardAuthRoutes } from './routes/forward-auth.js'
import { introspectionRoutes } from './routes/introspect.js'
import { operationsRoutes } from './routes/operations.js'
import { partnerRoutes } from './routes/partner.js'
import { policyRoutes } from './routes/policy.js'
import { anyKeyRoutes, childKeyRoutes, ownKeyRoutes } from './routes/keys.js'
import { sessionListRoutes } from './routes/session-list.js'
import { sessionRoutes } from './routes/sessions.js'
import { tokenRoutes } from './routes/tokens.js'

export interface AppOptions {
  authorizer: Authorizer
  /** Created before the authorizer, whose `onDecision` must call `metrics.observeDecision`. */
  metrics: ServerMetrics
  /** Mints and ends session tokens and publishes the JWKS; the authorizer must verify with the same object. */
  sessions: Pick<Sessions, 'mint' | 'end' | 'jwks' | 'list'>
  /** JSON logs (pino); none when omitted. */
  logger?: { level: string; stream?: DestinationStream }
  /** Fastify's `trustProxy`: who may set X-Forwarded-Proto (the scheme the policy sees). Default: nobody. */
  trustProxy?: boolean | string[]
  /** Serve HTTPS directly. */
  tls?: { cert: Buffer; key: Buffer }
  /** Put the policy's reasons in /v1/authorize answers (default false). */
  decisionReasons?: boolean
  /** The bearer token callers of `/v1/authorize` must send; without it, only loopback callers are answered. */
  decisionApiToken?: string
  /** The policy bundle's path, whose Rego sources `/v1/authorize?explain=true` points into (default build/bundle.tar.gz). */
  policyBundle?: string
  /** Settings laid over the bundle's data.keygate.config (as the deciding engine has them), for bundles replayed by /admin/v1/policy/replay. */
  policyConfig?: Record<string, unknown>
  /** Epoch milliseconds for key lifetimes and roll deadlines; pass the authorizer's clock. Default Date.now. */
  clock?: () => number
  /** How long a request (headers and body) may take to arrive before it is answered 408. Default REQUEST_TIMEOUT_MS. */
  requestTimeoutMs?: number
  /** The web console under /console, with its session timeouts (default DEFAULT_CONSOLE_TIMEOUTS); false: off, and its cookie is no credential. */
  console?: ConsoleTimeouts | false
}

export const BODY_LIMIT_BYTES = 64 * 1024
export const HEADER_LIMIT_BYTES = 16 * 1024
/** A request (headers and body) must have arrived by then: slow clients cannot hold connections open. */
export const REQUEST_TIMEOUT_MS = 30_000

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string }

// Secrets never reach the log: request lines are logged without their query string, and
// anything that looks like a credential is censored should a serializer ever include it.
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'token',
  '*.token',
  'secret',
  '*.secret'
]

/** The standalone server's Fastify instance, not listening: `listen()` it, or `inject()` in tests. */
export function buildApp (options: AppOptions): FastifyInstance {
  const { authorizer, metrics, sessions } = options
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
  const serverOptions = {
    maxHeaderSize: HEADER_LIMIT_BYTES,
    // Given when the server is made, so that Node's headersTimeout follows it (else slow headers get 60 s).
    requestTimeout,
    // Node looks for late requests this often (30 s by default): a tenth of the timeout keeps the 408 close to it.
    connectionsCheckingInterval: Math.max(1, Math.ceil(requestTimeout / 10))
  }
  const trustProxy = options.trustProxy ?? false
  // Made once the app (and its logger) exists; requests come only after listen().
  let forwardAuth: RequestListener = () => { throw new Error('forward-auth listener used before the app was built') }
  const app = Fastify({
    logger: options.logger === undefined ? false : loggerOptions(options.logger),
    trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout,
    // Requests already on a connection when shutdown starts are answered, not refused.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    clientErrorHandler,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true } },
    ...(options.tls === undefined ? { http: serverOptions } : { https: { ...options.tls, ...serverOptions } }),
    // Forward-auth checks, the hot path, skip Fastify's routing, hooks and reply objects.
    serverFactory: (fastifyHandler: RequestListener, settings: FastifyServerOptions) => nodeServer(settings, (request, response) => {
      if (isForwardAuthUrl(request.url ?? '')) forwardAuth(request, response)
      else fastifyHandler(request, response)
    })
  } as FastifyServerOptions)
  forwardAuth = forwardAuthListener({ authorizer, trustProxy, log: app.log })

  // Bodies are JSON: Fastify's default text/plain parser would let a text body reach the schema as a 400, not a 415.
  app.removeContentTypeParser('text/plain')
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler(notFoundHandler)
  // Decisions, identities and secrets must not be stored by any cache on the way.
  app.addHook('onSend', async (_request, reply) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  })

  const clock = options.clock ?? Date.now
  const manage = { authorizer, now: () => new Date(clock()) }
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Keygate', version, description: 'Authorizer for HTTP APIs with bearer credentials' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }
    }
  })
  if (options.console !== false) {
    app.register(consolePlugin, { authorizer, sessions: new ConsoleSessions(authorizer.store.database, options.console ?? DEFAULT_CONSOLE_TIMEOUTS, clock) })
  }
  app.register(operationsRoutes, { authorizer, metrics })
  app.register(decisionRoutes, {
    authorizer, decisionReasons: options.decisionReasons ?? false, policyBundle: options.policyBundle, callerToken: options.decisionApiToken, trustProxy
  })
  app.register(forwardAuthRoutes, { authorizer, trustProxy })
  app.register(introspectionRoutes, { authorizer })
  // Authorizes its own routes (the JWKS is public).
  app.register(sessionRoutes, { authorizer, sessions })
  // Keygate's own API is authorized by Keygate's own policy, through the same plugin services use.
  app.register(async (scope) => {
    await scope.register(keygatePlugin, { authorizer })
    // A POST without a body is an empty object, so that `{}` may be left out.
    scope.addHook('preValidation', async (request) => {
      if (request.body === undefined) request.body = {}
    })
    await scope.register(partnerRoutes, manage)
    await scope.register(tokenRoutes, manage)
    await scope.register(adminRoutes, manage)
    await scope.register(ownKeyRoutes, manage)
    await scope.register(childKeyRoutes, manage)
    await scope.register(anyKeyRoutes, manage)
    await scope.register(sessionListRoutes, { store: authorizer.store, sessions })
    await scope.register(auditRoutes, { store: authorizer.store })
    await scope.register(policyRoutes, { authorizer, policyBundle: options.policyBundle, policyConfig: options.policyConfig })
  })
  // Registered as a plugin so that it comes after @fastify/swagger and is part of the document.
  app.register(async (scope) => {
    scope.get('/openapi.json', { schema: { summary: 'This document', tags: ['operations'] } }, async () => app.swagger())
  })
  return app
}

/** The server Fastify would make from the same settings (which it leaves to a serverFactory). */
function nodeServer (settings: FastifyServerOptions & { http?: object, https?: object }, listener: RequestListener): Server {
  const server = settings.https === undefined
    ? createHttpServer(settings.http ?? {}, listener)
    : createHttpsServer(settings.https, listener)
  server.keepAliveTimeout = settings.keepAliveTimeout as number
  server.requestTimeout = settings.requestTimeout as number
  server.setTimeout(settings.connectionTimeout as number)
  if ((settings.maxRequestsPerSocket ?? 0) > 0) server.maxRequestsPerSocket = settings.maxRequestsPerSocket as number
  return server
}

function loggerOptions ({ level, stream }: { level: string; stream?: DestinationStream }): object {
  return {
    level,
    ...(stream === undefined ? {} : { stream }),
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; hostname?: string; ip?: string }) => ({
        method: req.method,
        url: req.url.split('?')[0],
        host: req.hostname,
        remoteAddress: req.ip
      })
    }
  }
}
