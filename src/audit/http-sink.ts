import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { gzip as gzipCallback } from 'node:zlib'
import { redactUrl } from '../lib/url.js'
import type { HttpSinkConfig } from './config.js'
import type { LogEntry } from './entry.js'
import type { Sink } from './sinks.js'

const gzip = promisify(gzipCallback)

/** A failed POST; `retryAfterMs` is the collector's Retry-After, when it gave one. */
export class CollectorError extends Error {
  readonly retryAfterMs: number | null

  constructor (message: string, retryAfterMs: number | null = null, options?: ErrorOptions) {
    super(message, options)
    this.name = 'CollectorError'
    this.retryAfterMs = retryAfterMs
  }
}

export interface HttpSinkOptions extends HttpSinkConfig {
  url: string
  /** Tests; default the global fetch. */
  fetch?: typeof fetch
  clock?: () => number
}

/**
 * OPA's decision-log service protocol: each batch is one POST of a gzip JSON
 * array of events. An event is the entry, unchanged, plus OPA's `labels` and
 * `requested_by`. Any answer but 2xx is a failure that keeps the batch for the
 * decision log to retry; nothing of a batch is ever dropped here. A 413 splits
 * the batch into smaller POSTs (and the sink keeps the smaller size); the part
 * of a batch already accepted is not sent again when the rest is retried.
 */
export class HttpSink implements Sink {
  readonly name = 'http'
  readonly #url: string
  readonly #where: string
  readonly #headers: Record<string, string>
  readonly #tokenFile: string | null
  readonly #timeoutMs: number
  readonly #fetch: typeof fetch
  readonly #clock: () => number
  readonly #labels = { app: 'keygate', id: randomUUID() }
  /** How many entries of a batch (by identity: a retry passes the same array) the collector has accepted. */
  readonly #accepted = new WeakMap<readonly LogEntry[], number>()
  #maxPerPost = Infinity

  constructor (options: HttpSinkOptions) {
    const url = new URL(options.url)
    const headers: Record<string, string> = { ...options.headers }
    // fetch() refuses a URL with credentials: they become the Basic authorization they stand for.
    if (url.username !== '' || url.password !== '') {
      headers.authorization ??= `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      url.username = ''
      url.password = ''
    }
    this.#url = url.href
    this.#where = redactUrl(options.url)
    this.#headers = headers
    this.#tokenFile = options.tokenFile
    this.#timeoutMs = options.timeoutMs
    this.#fetch = options.fetch ?? fetch
    this.#clock = options.clock ?? Date.now
  }

  /** The collector, without credentials or query string. */
  get where (): string {
    return this.#where
  }

  /** Checks that the token file can be read; call once before the first write. */
  async open (): Promise<void> {
    await this.#token()
  }

  async write (entries: readonly LogEntry[]): Promise<void> {
    let done = this.#accepted.get(entries) ?? 0
    while (done < entries.length) {
      const part = entries.slice(done, done + Math.min(this.#maxPerPost, entries.length))
      const tooLarge = await this.#post(part)
      if (tooLarge) {
        if (part.length === 1) throw new CollectorError(`collector ${this.#where} answered 413 to a single entry: raise its body limit`)
        this.#maxPerPost = Math.ceil(part.length / 2)
        continue
      }
      done += part.length
      this.#accepted.set(entries, done)
    }
  }

  async close (): Promise<void> {}

  /** One POST; true when the collector found it too large (413). */
  async #post (entries: readonly LogEntry[]): Promise<boolean> {
    let text = '['
    for (const [i, entry] of entries.entries()) {
      text += (i === 0 ? '' : ',') + JSON.stringify({ ...entry, labels: this.#labels, requested_by: entry.client_address ?? undefined })
    }
    const body = await gzip(text + ']')
    const headers: Record<string, string> = { ...this.#headers, 'content-type': 'application/json', 'content-encoding': 'gzip' }
    const token = await this.#token()
    if (token !== null) headers.authorization = `Bearer ${token}`
    let response: Response
    try {
      response = await this.#fetch(this.#url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.#timeoutMs) })
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name
      throw new CollectorError(`cannot POST to the collector ${this.#where}: ${cause === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : cause}`, null, { cause: error })
    }
    await response.body?.cancel().catch(() => {})
    if (response.status >= 200 && response.status < 300) return false
    if (response.status === 413) return true
    throw new CollectorError(`collector ${this.#where} answered ${response.status}${hint(response.status)}`, retryAfterMs(response.headers.get('retry-after'), this.#clock()))
  }

  async #token (): Promise<string | null> {
    if (this.#tokenFile === null) return null
    let token: string
    try {
      token = (await readFile(this.#tokenFile, 'utf8')).trim()
    } catch (error) {
      throw new CollectorError(`cannot read KEYGATE_DECISION_LOG_TOKEN_FILE ${this.#tokenFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, null, { cause: error })
    }
    if (token === '' || /[\s\0]/.test(token)) throw new CollectorError(`KEYGATE_DECISION_LOG_TOKEN_FILE ${this.#tokenFile} must hold one token, without spaces`)
    return token
  }
}

function hint (status: number): string {
  if (status === 401 || status === 403) return ' (check KEYGATE_DECISION_LOG_HEADERS or KEYGATE_DECISION_LOG_TOKEN_FILE); kept and retried'
  if (status >= 300 && status < 400) return ' (a redirect: give the collector\'s final URL); kept and retried'
  if (status === 408 || status === 429 || status >= 500) return '; retried'
  return ' (it refuses the request as sent); kept and retried, never dropped'
}

/** Retry-After as seconds or as an HTTP date, in ms from now; null when absent or unreadable. */
export function retryAfterMs (value: string | null, now: number): number | null {
  if (value === null) return null
  const text = value.trim()
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}
