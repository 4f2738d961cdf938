import cluster from 'node:cluster'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { Audit, type AuditConfig } from '../audit/index.js'
import { createAuthorizer } from '../authorizer/authorizer.js'
import { auditConfigOf, configWarnings, policyConfigOf, loadConfig, sessionSettingsOf, throttleOf, tlsOf, workersOf, type Config, type SessionSettings } from '../config/index.js'
import { PolicyReloader } from '../policy/reloader.js'
import { bootstrap } from '../manage/accounts.js'
import { Sessions } from '../sessions/index.js'
import { openStore } from '../store/index.js'
import type { Store } from '../store/store.js'
import { buildApp } from './app.js'
import { onPrimaryShutdown, runCluster } from './cluster.js'
import { listenGrpc, type GrpcListener } from './grpc.js'
import { createMetrics } from './metrics.js'

export interface ServeIo {
  env: NodeJS.ProcessEnv
  /** Where the JSON log and the one-time bootstrap notice go. */
  stdout: { write(chunk: string): unknown }
}

export interface RunningServer {
  app: FastifyInstance
  /** e.g. `http://127.0.0.1:8080` */
  url: string
  store: Store
  sessions: Sessions
  /** Runs `close` first when the server closes (e.g. a listener of its own that uses the store). */
  closeFirst(close: () => Promise<void>): void
  /** The gRPC listener (ext_authz and health), when KEYGATE_GRPC_PORT is set. */
  grpc: Pick<GrpcListener, 'address' | 'port'> | null
  /** Stops accepting connections, finishes the requests in flight, then closes the store. */
  close(): Promise<void>
}

export interface ServeOptions {
  /** Called once the server listens (not in a cluster's primary): e.g. to serve more than HTTP from its store. */
  onListening?: (server: RunningServer) => Promise<void>
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const

/** `keygate serve` / `npm start`: runs until SIGTERM or SIGINT, then shuts down gracefully. A second signal ends the process at once. */
export async function serve (io: ServeIo, options: ServeOptions = {}): Promise<number> {
  const config = loadConfig(io.env)
  const sessions = await sessionSettingsOf(config)
  const workers = workersOf(config)
  // Configuration is checked here, before any worker starts (and again by each worker).
  if (workers > 1 && cluster.isPrimary) return await runCluster({ workers, logLevel: config.logLevel, stdout: io.stdout })
  // Listening from the start: a shutdown asked for while the server starts is honoured once it has.
  const shutdown = shutdownRequest()
  try {
    const server = await start({ ...config, sessions, audit: auditConfigOf(config), warnings: configWarnings(io.env) }, io)
    try {
      await options.onListening?.(server)
    } catch (error) {
      await server.close()
      throw error
    }
    return await closeOnShutdown(server, await shutdown.requested)
  } finally {
    shutdown.stop()
    // A worker's IPC channel would keep it alive, whether it served or failed to start.
    if (cluster.isWorker && process.connected) process.disconnect()
  }
}

interface ShutdownRequest {
  /** The signal received, or 'primary' when a cluster's primary asked (or went away). */
  requested: Promise<NodeJS.Signals | 'primary'>
  stop(): void
}

function shutdownRequest (): ShutdownRequest {
  let stop = (): void => {}
  const requested = new Promise<NodeJS.Signals | 'primary'>((resolve) => {
    const onSignal = (received: NodeJS.Signals): void => { done(received) }
    const stopListening = onPrimaryShutdown(() => { done('primary') })
    stop = () => {
      for (const name of SIGNALS) process.removeListener(name, onSignal)
      stopListening()
    }
    const done = (received: NodeJS.Signals | 'primary'): void => {
      stop()
      resolve(received)
    }
    for (const name of SIGNALS) process.on(name, onSignal)
  })
  return { requested, stop: () => { stop() } }
}

async function closeOnShutdown (server: RunningServer, signal: NodeJS.Signals | 'primary'): Promise<number> {
  // Restores the default action of the signal: the process ends without waiting.
  const force = (received: NodeJS.Signals): void => { process.kill(process.pid, received) }
  const forcing = signal === 'primary' ? SIGNALS : [signal]
  for (const name of forcing) process.once(name, force)
  server.app.log.info({ signal }, 'shutting down: finishing requests in flight')
  try {
    await server.close()
  } finally {
    for (const name of forcing) process.removeListener(name, force)
  }
  return 0
}

export interface StartConfig extends Config {
  sessions: SessionSettings
  /** Default: the decision log in the store (DEFAULT_AUDIT_CONFIG). */
  audit?: Partial<AuditConfig>
  /** Logged at `warn` once the server has a log (configWarnings). */
  warnings?: string[]
}

export async function start (config: StartConfig, io: Pick<ServeIo, 'stdout'>): Promise<RunningServer> {
  const store = await openStore({
    databaseUrl: config.databaseUrl,
    replicaUrls: config.databaseReplicaUrls,
    listenUrl: config.listenDatabaseUrl,
    dataDir: config.dataDir
  })
  const closers: Array<() => Promise<void>> = [async () => { await store.close() }]
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) await close()
  }
  try {
    const sessions = new Sessions({ db: store.database, ...config.sessions.options })
    closers.push(async () => { await sessions.close() })
    await sessions.listen()
    if (config.sessions.rotateAfterSeconds !== null) sessions.scheduleRotation(config.sessions.rotateAfterSeconds)
    const metrics = createMetrics()
    let log: FastifyBaseLogger | null = null
    let replayedEarly: number | null = null
    const audit = await Audit.open({
      store,
      config: config.audit,
      registry: metrics.registry,
      stdout: io.stdout,
      onError: (error, context) => { log?.error({ err: error }, `audit: ${context}`) },
      onCleanup: (deleted) => { if (deleted > 0) log?.info({ deleted }, 'audit: deleted decision-log rows past their retention') },
      onReplay: (replayed) => { if (log === null) replayedEarly = replayed; else logReplay(log, replayed) }
    })
    closers.push(async () => { await audit.close() })
    // Watched (a file) or polled (a bundle server); a bundle that fails to load leaves the last good one deciding.
    const policy = await PolicyReloader.open({
      bundle: config.policyBundle,
      pollSeconds: config.policyPollSeconds,
      token: config.policyBundleToken,
      ...(policyConfigOf(config) === undefined ? {} : { engine: { config: policyConfigOf(config) } }),
      onReload: ({ revision, previous }) => {
        metrics.observePolicyReload('success')
        log?.info({ revision, previous }, 'policy: new bundle loaded')
      },
      onError: (error) => {
        metrics.observePolicyReload('failure')
        log?.error({ err: error }, 'policy: bundle refused, the last good policy stays')
      }
    })
    closers.push(async () => { await policy.close() })
    metrics.watchPolicy(policy)
    const authorizer = await createAuthorizer({
      store,
      sessions,
      policy,
      decisionTimeoutMs: config.decisionTimeoutMs,
      throttle: throttleOf(config),
      cache: { staleIfErrorMs: Math.round(config.staleIfErrorSeconds * 1000) },
      onEvent: (event) => {
        metrics.observeCacheEvent(event)
        if (event.type === 'listen_lost') log?.warn('cache: the connection that listens for changes was lost; deciding from the store alone (503 while it is unreachable) until it is back')
        if (event.type === 'resync') log?.warn('cache: change notifications may have been missed (connection lost); every cache cleared')
        if (event.type === 'listen_failed') log?.warn({ err: event.error }, 'cache: cannot subscribe to change notifications yet; retrying')
        if (event.type === 'limit_sync_failed') log?.warn({ err: event.error }, 'limits: cannot share the rate-limit counters with the store; counting locally and retrying')
      },
      onDecision: (record) => {
        metrics.observeDecision(record)
        return audit.record(record)
      }
    })
    metrics.watchCaches(authorizer)
    closers.push(async () => { await authorizer.close() })
    if (config.databaseUrl === undefined) await bootstrapEmbedded(store, config.bootstrapEmail, io.stdout)
    const empty = config.databaseUrl !== undefined && await store.countUsers() === 0
    const app = buildApp({
      authorizer,
      metrics,
      sessions,
      logger: { level: config.logLevel, stream: io.stdout },
      trustProxy: config.trustProxy,
      tls: tlsOf(config),
      decisionReasons: config.decisionReasons,
      decisionApiToken: config.decisionApiToken,
      policyBundle: config.policyBundle,
      policyConfig: policyConfigOf(config),
      console: config.console ? { idleSeconds: config.consoleIdleSeconds, lifetimeSeconds: config.consoleLifetimeSeconds } : false,
      keyAge: { unusedDays: config.keyUnusedDays, rotationDays: config.keyRotationDays },
      audit
    })
    log = app.log
    if (replayedEarly !== null) logReplay(log, replayedEarly)
    for (const warning of config.warnings ?? []) log.warn(`configuration: ${warning}`)
    if (empty) {
      log.warn('the store has no accounts yet: create the first admin account and its key with ' +
        '`keygate bootstrap --email you@example.com` (same KEYGATE_DATABASE_URL); it prints the key once')
    }
    closers.push(async () => { await app.close() })
    const url = await app.listen({ host: config.host, port: config.port })
    let grpc: GrpcListener | null = null
    if (config.grpcPort !== undefined) {
      grpc = await listenGrpc({
        authorizer,
        host: config.host,
        port: config.grpcPort,
        tls: tlsOf(config),
        trustProxy: config.trustProxy,
        removeAuthorization: config.grpcRemoveAuthorization,
        log: app.log
      })
      closers.push(grpc.close)
      app.log.info({ grpc: grpc.address }, `gRPC listening at ${grpc.address}${tlsOf(config) === undefined ? '' : ' (TLS)'}`)
    }
    return { app, url, grpc, store, sessions, closeFirst: (close) => { closers.push(close) }, close: closeAll }
  } catch (error) {
    await closeAll()
    throw error
  }
}

function logReplay (log: FastifyBaseLogger, replayed: number): void {
  log.info({ replayed }, 'audit: the spool of a process that stopped is in the decision log')
}

/**
 * A newcomer's first start: with the embedded store still empty, create the
 * admin account and show its key once, on stdout but outside the JSON log.
 */
async function bootstrapEmbedded (store: Store, email: string, stdout: ServeIo['stdout']): Promise<void> {
  if (await store.countUsers() > 0) return
  const { userId, token } = await bootstrap(store, { email })
  stdout.write([
    `Keygate created the first admin account (${email}) in the embedded store.`,
    `  user id: ${userId}`,
    `  key:     ${token}`,
    'This key is shown once: store it now.',
    ''
  ].join('\n'))
}
