import { createHash } from 'node:crypto'
import { watch, type FSWatcher } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { redactUrl } from '../lib/url.js'
import { PolicyEngine, type PolicyEngineOptions } from './engine.js'
import { PolicyBundleError, PolicyFault } from './errors.js'
import { POLICY_INPUT_VERSION, type PolicyInput } from './input.js'
import type { PolicySource, PolicyStatus } from './source.js'

export interface PolicyReloaderOptions {
  /** A bundle file (`opa build -t wasm` output), or the http(s) URL of a bundle on a bundle server. */
  bundle: string
  /**
   * How often to look for a new bundle: the file's size and mtime (besides
   * watching it), or a conditional GET (`If-None-Match`). Default 5 s for a
   * file, 30 s for a URL; 0 loads the bundle once and never looks again.
   */
  pollSeconds?: number
  /** Sent as `Authorization: Bearer …` to the bundle server. */
  token?: string
  /** Largest bundle accepted from a bundle server (default 32 MiB). */
  maxBundleBytes?: number
  /** A download that takes longer fails (default 10 s). */
  requestTimeoutMs?: number
  engine?: PolicyEngineOptions
  /** A new policy decides from now on. */
  onReload?: (event: { revision: string; previous: string }) => void
  /** A bundle (or a download) was refused; the last good policy stays. */
  onError?: (error: PolicyBundleError) => void
  /** For tests. */
  fetch?: typeof fetch
}

const FILE_DEBOUNCE_MS = 200
/** Bundle-server defaults: the largest bundle, the longest download, the longest wait between failing polls. */
export const BUNDLE_SERVER_LIMITS = { maxBundleBytes: 32 * 1024 * 1024, requestTimeoutMs: 10_000, maxBackoffMs: 5 * 60_000 } as const

/**
 * Keeps the policy current from a bundle file or an HTTP bundle server (OPA's
 * bundle protocol: a GET with `If-None-Match`, 304 when unchanged, backing off
 * on errors). A new bundle is loaded beside the policy in use and checked — the
 * engine's canary, then smoke decisions — before a single assignment makes it
 * the current one; decisions already running finish on the policy they
 * started with. A bundle that fails to load or to pass the checks is refused,
 * counted, and the last good policy stays.
 */
export class PolicyReloader implements PolicySource {
  readonly #options: PolicyReloaderOptions
  readonly #http: boolean
  readonly #pollMs: number
  #engine: PolicyEngine
  #digest: string
  #status: PolicyStatus
  /** File: the last stat seen (loaded or refused). HTTP: the ETag of the last bundle fetched. */
  #seen: string | null
  #timer: NodeJS.Timeout | undefined
  #debounce: NodeJS.Timeout | undefined
  #watcher: FSWatcher | undefined
  #checking: Promise<boolean> | null = null
  #again = false
  #failuresInARow = 0
  #abort = new AbortController()
  #closed = false

  private constructor (options: PolicyReloaderOptions, http: boolean, pollMs: number, first: Loaded) {
    this.#options = options
    this.#http = http
    this.#pollMs = pollMs
    this.#engine = first.engine
    this.#digest = first.digest
    this.#seen = first.seen
    this.#status = { revision: first.engine.revision, source: redactUrl(options.bundle), loadedAt: new Date(), reloads: 0, failures: 0, lastError: null }
  }

  /** Loads the first bundle (throws PolicyBundleError if it is refused), then keeps watching. */
  static async open (options: PolicyReloaderOptions): Promise<PolicyReloader> {
    if (typeof options?.bundle !== 'string' || options.bundle === '') throw new TypeError('PolicyReloader: bundle must be a path or a URL')
    const http = /^https?:\/\//i.test(options.bundle)
    const pollSeconds = options.pollSeconds ?? (http ? 30 : 5)
    if (!(typeof pollSeconds === 'number' && pollSeconds >= 0 && pollSeconds <= 86_400)) throw new TypeError('PolicyReloader: pollSeconds must be a number from 0 to 86400')
    for (const name of ['maxBundleBytes', 'requestTimeoutMs'] as const) {
      const value = options[name]
      if (value !== undefined && !(Number.isInteger(value) && value > 0)) throw new TypeError(`PolicyReloader: ${name} must be a positive integer`)
    }
    const download = http ? await fetchBundle(options, null, new AbortController().signal) : await readBundleFile(options.bundle)
    if (download === 'unchanged') throw new PolicyBundleError(`bundle server answered 304 to an unconditional request: ${redactUrl(options.bundle)}`)
    const engine = await loadChecked(download.bytes, options.engine)
    const reloader = new PolicyReloader(options, http, pollSeconds * 1000, { engine, digest: digestOf(download.bytes), seen: download.seen })
    reloader.#start()
    return reloader
  }

  current (): PolicyEngine {
    return this.#engine
  }

  status (): PolicyStatus {
    return { ...this.#status }
  }

  /** Looks for a new bundle now; true when a new policy was loaded. Calls made meanwhile share one check. */
  async check (): Promise<boolean> {
    if (this.#closed) return false
    if (this.#checking !== null) {
      this.#again = true
      return await this.#checking
    }
    this.#checking = this.#check().finally(() => { this.#checking = null })
    const loaded = await this.#checking
    if (this.#again && !this.#closed) {
      this.#again = false
      return await this.check() || loaded
    }
    return loaded
  }

  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    clearTimeout(this.#debounce)
    this.#watcher?.close()
    this.#abort.abort()
    await this.#checking?.catch(() => {})
  }

  #start (): void {
    if (this.#pollMs === 0) return
    if (!this.#http) {
      // The folder, not the file: a bundle replaced by a rename (as `npm run policy:build` does) is a new inode.
      try {
        const name = basename(this.#options.bundle)
        this.#watcher = watch(dirname(this.#options.bundle), { persistent: false }, (_event, file) => {
          if (file !== null && file !== name) return
          clearTimeout(this.#debounce)
          this.#debounce = setTimeout(() => { void this.check() }, FILE_DEBOUNCE_MS).unref()
        })
        this.#watcher.on('error', () => { this.#watcher?.close(); this.#watcher = undefined })
      } catch {
        // Some file systems cannot be watched: polling alone does.
      }
    }
    this.#schedule(this.#pollMs)
  }

  #schedule (delayMs: number): void {
    if (this.#closed) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      void this.check().finally(() => {
        // Backoff after failures in a row (download errors and refused bundles alike), with some jitter.
        const backoff = Math.min(this.#pollMs * 2 ** this.#failuresInARow, Math.max(this.#pollMs, BUNDLE_SERVER_LIMITS.maxBackoffMs))
        this.#schedule(this.#failuresInARow === 0 ? this.#pollMs : backoff * (0.9 + Math.random() * 0.2))
      })
    }, delayMs).unref()
  }

  async #check (): Promise<boolean> {
    let download: Download | 'unchanged'
    try {
      download = this.#http
        ? await fetchBundle(this.#options, this.#seen, this.#abort.signal)
        : await readBundleFile(this.#options.bundle, this.#seen)
    } catch (error) {
      if (this.#closed) return false
      this.#refused(error)
      return false
    }
    if (download === 'unchanged' || this.#closed) {
      this.#failuresInARow = 0
      return false
    }
    // Whatever comes of it, this version has been seen: it is not loaded (or refused) again until it changes.
    this.#seen = download.seen
    const digest = digestOf(download.bytes)
    if (digest === this.#digest) {
      this.#failuresInARow = 0
      return false
    }
    let engine: PolicyEngine
    try {
      engine = await loadChecked(download.bytes, this.#options.engine)
    } catch (error) {
      this.#refused(error)
      return false
    }
    if (this.#closed) return false
    const previous = this.#engine.revision
    // The swap: decisions that started before it hold their own reference to the old engine.
    this.#engine = engine
    this.#digest = digest
    this.#failuresInARow = 0
    this.#status = { ...this.#status, revision: engine.revision, loadedAt: new Date(), reloads: this.#status.reloads + 1 }
    this.#options.onReload?.({ revision: engine.revision, previous })
    return true
  }

  #refused (error: unknown): void {
    const refusal = error instanceof PolicyBundleError
      ? error
      : new PolicyBundleError(`policy bundle not loaded: ${(error as Error)?.message ?? String(error)}`, { cause: error })
    this.#failuresInARow++
    this.#status = { ...this.#status, failures: this.#status.failures + 1, lastError: { message: refusal.message, at: new Date() } }
    this.#options.onError?.(refusal)
  }
}

interface Download {
  bytes: Uint8Array
  /** What identifies this version: the file's stat, or the ETag. */
  seen: string | null
}

interface Loaded {
  engine: PolicyEngine
  digest: string
  seen: string | null
}

async function readBundleFile (path: string, seen: string | null = null): Promise<Download | 'unchanged'> {
  let signature: string
  try {
    const info = await stat(path)
    signature = `${info.ino}:${info.size}:${info.mtimeMs}`
  } catch (error) {
    throw new PolicyBundleError(`cannot read policy bundle ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error })
  }
  if (signature === seen) return 'unchanged'
  try {
    return { bytes: await readFile(path), seen: signature }
  } catch (error) {
    throw new PolicyBundleError(`cannot read policy bundle ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error })
  }
}

/** One conditional GET of OPA's bundle protocol. */
async function fetchBundle (options: PolicyReloaderOptions, etag: string | null, signal: AbortSignal): Promise<Download | 'unchanged'> {
  const where = redactUrl(options.bundle)
  const headers: Record<string, string> = { accept: 'application/gzip, application/octet-stream, */*' }
  if (etag !== null) headers['if-none-match'] = etag
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const limit = options.maxBundleBytes ?? BUNDLE_SERVER_LIMITS.maxBundleBytes
  const timeout = AbortSignal.timeout(options.requestTimeoutMs ?? BUNDLE_SERVER_LIMITS.requestTimeoutMs)
  let response: Response
  try {
    response = await (options.fetch ?? fetch)(options.bundle, { headers, signal: AbortSignal.any([signal, timeout]), redirect: 'follow' })
  } catch (error) {
    throw new PolicyBundleError(`cannot download the policy bundle from ${where}: ${causeOf(error)}`, { cause: error })
  }
  if (response.status === 304) {
    await response.body?.cancel()
    return 'unchanged'
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new PolicyBundleError(`bundle server answered ${response.status} for ${where}`)
  }
  const declared = Number(response.headers.get('content-length') ?? NaN)
  if (declared > limit) {
    await response.body?.cancel()
    throw new PolicyBundleError(`policy bundle from ${where} is larger than ${limit} bytes`)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for await (const chunk of response.body ?? []) {
      size += (chunk as Uint8Array).byteLength
      if (size > limit) throw new PolicyBundleError(`policy bundle from ${where} is larger than ${limit} bytes`)
      chunks.push(chunk as Uint8Array)
    }
  } catch (error) {
    await response.body?.cancel().catch(() => {})
    if (error instanceof PolicyBundleError) throw error
    throw new PolicyBundleError(`download of the policy bundle from ${where} failed: ${causeOf(error)}`, { cause: error })
  }
  return { bytes: Buffer.concat(chunks), seen: response.headers.get('etag') }
}

/**
 * Inputs any Keygate policy must refuse, and one it must authenticate: a
 * bundle that allows without a credential, or cannot decide an ordinary
 * request, or does not read this version of the input (and so refuses a
 * valid key of an active account as unauthenticated), is refused before it
 * decides anything.
 */
const SMOKE: Array<{ name: string; input: PolicyInput; expect: 'deny401' | 'authenticates' }> = [
  {
    name: 'no credential',
    expect: 'deny401',
    input: { version: POLICY_INPUT_VERSION, now: 1_700_000_000_000, request: { method: 'POST', path: '/api/v1/bot/create', scheme: 'https' }, credential: { type: 'none', found: false }, principal: null, actor: null, runAs: [] }
  },
  {
    name: 'an unknown secret key',
    expect: 'deny401',
    input: { version: POLICY_INPUT_VERSION, now: 1_700_000_000_000, request: { method: 'GET', path: '/api/v1/bot/list', scheme: 'https' }, credential: { type: 'secret_key', found: false }, principal: null, actor: null, runAs: [] }
  },
  {
    name: 'a full-access key of an active account',
    expect: 'authenticates',
    input: {
      version: POLICY_INPUT_VERSION,
      now: 1_700_000_000_000,
      request: { method: 'GET', path: '/api/v1/bot/list', scheme: 'https' },
      credential: { type: 'secret_key', found: true, id: 'key_00000000000000000000', prefix: 'sk-smoke', expiresAt: null, revoked: false, scopes: null, actorId: null },
      principal: { id: 'usr_00000000000000000000', parentId: null, role: 'user', status: 'active', restrictions: [] },
      actor: null,
      runAs: []
    }
  }
]

async function loadChecked (bytes: Uint8Array, options?: PolicyEngineOptions): Promise<PolicyEngine> {
  const engine = await PolicyEngine.fromBundle(bytes, options)
  for (const { name, input, expect } of SMOKE) {
    let decision
    try {
      decision = engine.evaluate(input)
    } catch (error) {
      throw new PolicyBundleError(`policy bundle fails its smoke decision (${name}): ${(error as PolicyFault).message}`, { cause: error })
    }
    if (expect === 'deny401' && (decision.allow || decision.status !== 401)) {
      throw new PolicyBundleError(`policy bundle fails its smoke decision (${name}): expected 401, got ${decision.status}`)
    }
    if (expect === 'authenticates' && decision.status === 401) {
      throw new PolicyBundleError(`policy bundle fails its smoke decision (${name}): expected it authenticated, got 401 (a policy for another input version than ${POLICY_INPUT_VERSION}?)`)
    }
  }
  return engine
}

function digestOf (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function causeOf (error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error)
}
