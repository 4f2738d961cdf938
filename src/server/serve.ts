import type { FastifyInstance } from 'fastify'
import { createAuthorizer } from '../authorizer/authorizer.js'
import { bootstrap } from '../manage/accounts.js'
import type { Store } from '../store/store.js'
import { buildApp } from './app.js'
import { loadConfig, type ServerConfig } from './config.js'
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
  /** Stops accepting connections, finishes the requests in flight, then closes the store. */
  close(): Promise<void>
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const

/** `keygate serve` / `npm start`: runs until SIGTERM or SIGINT, then shuts down gracefully. A second signal ends the process at once. */
export async function serve (io: ServeIo): Promise<number> {
  const server = await start(loadConfig(io.env), io)
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (received: NodeJS.Signals): void => {
      for (const name of SIGNALS) process.removeListener(name, onSignal)
      resolve(received)
    }
    for (const name of SIGNALS) process.on(name, onSignal)
  })
  // Restores the default action of the signal: the process ends without waiting.
  const force = (received: NodeJS.Signals): void => { process.kill(process.pid, received) }
  process.once(signal, force)
  server.app.log.info({ signal }, 'shutting down: finishing requests in flight')
  try {
    await server.close()
  } finally {
    process.removeListener(signal, force)
  }
  return 0
}

export async function start (config: ServerConfig, io: Pick<ServeIo, 'stdout'>): Promise<RunningServer> {
  const metrics = createMetrics()
  const authorizer = await createAuthorizer({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    policy: config.policyBundle,
    onDecision: metrics.observeDecision
  })
  try {
    if (config.databaseUrl === undefined) await bootstrapEmbedded(authorizer.store, config.bootstrapEmail, io.stdout)
    const app = buildApp({
      authorizer,
      metrics,
      logger: { level: config.logLevel, stream: io.stdout },
      trustProxy: config.trustProxy,
      tls: config.tls,
      decisionReasons: config.decisionReasons
    })
    const url = await app.listen({ host: config.host, port: config.port })
    return {
      app,
      url,
      async close () {
        try {
          await app.close()
        } finally {
          await authorizer.close()
        }
      }
    }
  } catch (error) {
    await authorizer.close()
    throw error
  }
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
