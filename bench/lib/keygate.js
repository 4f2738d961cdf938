// The Keygate server under test: `node bin/keygate.js serve`, as operators run it.
import { freePort, startServer } from './proc.js'

/**
 * Starts `keygate serve` on a free port of 127.0.0.1 against `databaseUrl`.
 * `workers` sets KEYGATE_WORKERS (omitted: the server's default, one per core).
 * Logs at `warn`, so no line per request: the Fastify baseline logs nothing either.
 */
export async function startKeygate ({ databaseUrl, secret, workers, logLevel = 'warn', env = {}, nodeArgs = [] }) {
  const port = await freePort()
  return await startServer(process.execPath, [...nodeArgs, 'bin/keygate.js', 'serve'], {
    label: `keygate (workers=${workers ?? 'default'})`,
    port,
    env: {
      KEYGATE_HOST: '127.0.0.1',
      KEYGATE_PORT: String(port),
      KEYGATE_DATABASE_URL: databaseUrl,
      KEYGATE_SIGNING_SECRET: secret.toString('base64'),
      KEYGATE_LOG_LEVEL: logLevel,
      ...(workers === undefined ? {} : { KEYGATE_WORKERS: String(workers) }),
      ...env
    }
  })
}

export async function startHello ({ workers = 1 } = {}) {
  return await startServer(process.execPath, ['bench/lib/hello.js'], { label: `fastify hello (workers=${workers})`, env: { HELLO_WORKERS: String(workers) } })
}
