import { StoreUnavailableError } from './errors.js'

/** Where a statement can be sent: the primary's pool or a replica's. */
export interface ReadTarget {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>
}

export interface ReadStats {
  /** Reads (Database.read) the primary answered, because no replica had caught up or none answered. */
  primaryReads: number
  /** `SELECT pg_current_wal_insert_lsn()` sent to the primary: one per burst of changes made or heard. */
  fences: number
  replicas: Array<{ reads: number; checks: number }>
}

/** How long a replica's replay position is trusted without asking again, and how long one that failed is left alone. */
const REPLAY_TRUSTED_MS = 1_000
const REPLICA_DOWN_MS = 1_000

interface Replica {
  target: ReadTarget
  /** Its pg_last_wal_replay_lsn() when last asked (-1: unknown, or not a standby). */
  replayed: bigint
  checkedAt: number
  checking: Promise<bigint> | null
  downUntil: number
  reads: number
  checks: number
}

/**
 * Sends reads to a replica only when it cannot answer with state older than
 * a change this instance has made or heard of.
 *
 * Every *event* (a notification heard, a statement run on the primary, which
 * may have written, the listening connection lost or back) raises the bar.
 * A read after events needs a *fence*: the primary's
 * pg_current_wal_insert_lsn() read after the last of them. The change behind
 * each event was committed before it happened (NOTIFY is delivered after
 * commit; a write's call returns after commit), so its commit record lies
 * below the fence. A replica whose pg_last_wal_replay_lsn() has reached the
 * fence has replayed that commit, and any snapshot it takes now sees it.
 *
 * Why not the LSN in the NOTIFY payload: a trigger runs before its
 * transaction's commit record is written, so pg_current_wal_lsn() there is
 * below the commit, and a replica that has reached it may still show the
 * row as it was. The commit LSN cannot be known inside the transaction.
 *
 * One fence query is in flight at a time and serves every read that waits
 * for it; a replica's replay position is cached (REPLAY_TRUSTED_MS) and asked
 * again when it is below the fence. No fence (the primary unreachable): the
 * read fails as unavailable, never goes to a replica that might be behind.
 */
export class ReadRouter {
  readonly #primary: ReadTarget
  readonly #replicas: Replica[]
  readonly #onError: (error: Error) => void
  #events = 0
  #fence: { covers: number; lsn: bigint } | null = null
  #fetching: { covers: number; lsn: Promise<bigint> } | null = null
  #next = 0
  #primaryReads = 0
  #fences = 0

  constructor (primary: ReadTarget, replicas: ReadTarget[], onError: (error: Error) => void) {
    this.#primary = primary
    this.#replicas = replicas.map((target) => ({ target, replayed: -1n, checkedAt: 0, checking: null, downUntil: 0, reads: 0, checks: 0 }))
    this.#onError = onError
  }

  /** Something changed, or may have: the next read needs a new fence. Call it after the fact (the commit, the notification). */
  changed (): void {
    this.#events++
  }

  async read<R> (sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    const replica = await this.#caughtUp(await this.#fenceNow())
    if (replica !== null) {
      try {
        const result = await replica.target.query<R>(sql, params)
        replica.reads++
        return result
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error
        replica.downUntil = performance.now() + REPLICA_DOWN_MS
        this.#onError(error)
      }
    }
    this.#primaryReads++
    return await this.#primary.query<R>(sql, params)
  }

  stats (): ReadStats {
    return {
      primaryReads: this.#primaryReads,
      fences: this.#fences,
      replicas: this.#replicas.map(({ reads, checks }) => ({ reads, checks }))
    }
  }

  /** An LSN at or above the commit of every change made or heard before this call. */
  async #fenceNow (): Promise<bigint> {
    const events = this.#events
    if (this.#fence !== null && this.#fence.covers >= events) return this.#fence.lsn
    if (this.#fetching !== null && this.#fetching.covers >= events) return await this.#fetching.lsn
    // Sent now, so read by the primary after every event counted so far.
    const fetching = { covers: events, lsn: this.#askPrimary() }
    this.#fetching = fetching
    try {
      const lsn = await fetching.lsn
      if (this.#fence === null || this.#fence.covers < events) this.#fence = { covers: events, lsn }
      return lsn
    } finally {
      if (this.#fetching === fetching) this.#fetching = null
    }
  }

  async #askPrimary (): Promise<bigint> {
    this.#fences++
    const { rows: [row] } = await this.#primary.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')
    return parseLsn(row?.lsn ?? null)
  }

  /** A replica (taken in turn) whose replay has reached lsn, asking those behind again; null when none has. */
  async #caughtUp (lsn: bigint): Promise<Replica | null> {
    const now = performance.now()
    const up = this.#replicas.filter((replica) => replica.downUntil <= now)
    if (up.length === 0) return null
    const start = this.#next++ % up.length
    const inTurn = [...up.slice(start), ...up.slice(0, start)]
    const trusted = inTurn.find((replica) => replica.replayed >= lsn && now - replica.checkedAt < REPLAY_TRUSTED_MS)
    if (trusted !== undefined) return trusted
    const replayed = await Promise.all(inTurn.map(async (replica) => await this.#check(replica)))
    return inTurn.find((_replica, i) => (replayed[i] as bigint) >= lsn) ?? null
  }

  /** The replica's replay position now, one question at a time; -1 when it cannot say (down, or not a standby). */
  async #check (replica: Replica): Promise<bigint> {
    replica.checking ??= (async () => {
      replica.checks++
      try {
        const { rows: [row] } = await replica.target.query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')
        replica.replayed = parseLsn(row?.lsn ?? null)
        replica.checkedAt = performance.now()
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error
        replica.downUntil = performance.now() + REPLICA_DOWN_MS
        replica.replayed = -1n
        this.#onError(error)
      } finally {
        replica.checking = null
      }
      return replica.replayed
    })()
    return await replica.checking
  }
}

/** `16/B374D848` as a number; null (pg_last_wal_replay_lsn() on a server that is not a standby) as -1. */
export function parseLsn (text: string | null): bigint {
  if (text === null) return -1n
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text)
  if (match === null) throw new TypeError(`not an LSN: ${JSON.stringify(text)}`)
  return (BigInt(`0x${match[1] as string}`) << 32n) + BigInt(`0x${match[2] as string}`)
}
