import cluster, { type Worker } from 'node:cluster'
import { hostname } from 'node:os'

/** What the primary sends a worker to make it shut down as on SIGTERM. */
export const SHUTDOWN_MESSAGE = 'keygate:shutdown'

const LEVELS = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10, silent: Infinity } as const

export interface ClusterOptions {
  workers: number
  logLevel: keyof typeof LEVELS
  /** Where the primary's JSON log lines go (the workers log to the same stdout, inherited). */
  stdout: { write(chunk: string): unknown }
  /** Delay before a worker that died is replaced; doubled for every death within a minute, up to 30 s. */
  restartDelayMs?: number
}

/**
 * The primary of `keygate serve` with KEYGATE_WORKERS above 1: forks that many
 * copies of this process, which share the listening port (node:cluster hands
 * each new connection to one of them) and each run their own authorizer,
 * caches and store pool. It serves nothing itself.
 *
 * - A worker that dies after it started listening is replaced (after a
 *   backoff); one that dies before it ever listened means every worker would
 *   (the store is unreachable, the policy does not load): all are stopped and
 *   the primary answers 1.
 * - SIGTERM or SIGINT asks every worker to shut down gracefully (finish the
 *   requests in flight, close the store), then answers 0; a second signal
 *   kills them at once. A worker whose primary disappears shuts down too.
 */
export async function runCluster (options: ClusterOptions): Promise<number> {
  const { workers, stdout } = options
  const threshold = LEVELS[options.logLevel]
  const log = (level: 'error' | 'warn' | 'info', fields: Record<string, unknown>, msg: string): void => {
    if (LEVELS[level] < threshold) return
    stdout.write(JSON.stringify({ level: LEVELS[level], time: Date.now(), pid: process.pid, hostname: hostname(), ...fields, msg }) + '\n')
  }
  const baseDelay = options.restartDelayMs ?? 1_000
  const listening = new Set<number>()
  const deaths: number[] = []
  let stopping = false
  let failed = false

  const fork = (): void => {
    const worker = cluster.fork()
    worker.once('listening', () => { listening.add(worker.id) })
    worker.once('exit', (code, signal) => {
      const served = listening.delete(worker.id)
      if (stopping) return
      if (!served) {
        log('error', { worker: worker.process.pid, code, signal }, 'cluster: a worker stopped before it could serve; stopping every worker')
        failed = true
        stop()
        return
      }
      const now = Date.now()
      deaths.push(now)
      while (deaths.length > 0 && (deaths[0] as number) < now - 60_000) deaths.shift()
      const delay = Math.min(30_000, baseDelay * 2 ** (deaths.length - 1))
      log('error', { worker: worker.process.pid, code, signal, restartInMs: delay }, 'cluster: a worker died; starting another')
      setTimeout(() => { if (!stopping) fork() }, delay).unref()
    })
  }

  const live = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)

  let settle: (code: number) => void = () => {}
  const finished = new Promise<number>((resolve) => { settle = resolve })
  const checkDone = (): void => {
    if (stopping && live().length === 0) settle(failed ? 1 : 0)
  }
  cluster.on('exit', checkDone)

  function stop (): void {
    if (stopping) return
    stopping = true
    for (const worker of live()) {
      if (worker.isConnected()) worker.send(SHUTDOWN_MESSAGE, (error: Error | null) => { if (error !== null) worker.process.kill('SIGTERM') })
      else worker.process.kill('SIGTERM')
    }
    checkDone()
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) {
      log('info', { signal, workers: live().length }, 'shutting down: every worker finishes its requests in flight')
      stop()
      return
    }
    for (const worker of live()) worker.process.kill('SIGKILL')
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)

  log('info', { workers }, `cluster: starting ${workers} workers`)
  for (let i = 0; i < workers; i++) fork()
  try {
    return await finished
  } finally {
    process.removeListener('SIGTERM', onSignal)
    process.removeListener('SIGINT', onSignal)
    cluster.removeListener('exit', checkDone)
  }
}

/**
 * In a worker: calls `listener` once, when the primary asks for a shutdown or
 * goes away. Returns a function that stops listening. Does nothing outside a cluster.
 */
export function onPrimaryShutdown (listener: () => void): () => void {
  if (!cluster.isWorker) return () => {}
  const onMessage = (message: unknown): void => { if (message === SHUTDOWN_MESSAGE) fire() }
  const fire = (): void => {
    off()
    listener()
  }
  const off = (): void => {
    process.removeListener('message', onMessage)
    process.removeListener('disconnect', fire)
  }
  process.on('message', onMessage)
  process.on('disconnect', fire)
  return off
}
