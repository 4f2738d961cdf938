import { uuidV7 } from '../lib/uuid.js'
import { parseCredentials, type PresentedCredential } from '../credentials/parse.js'
import { displayPrefix } from '../credentials/secret-key.js'
import { LimitCounters, rateLimitHeaders, resetSeconds, unchanged, type LimitCounter, type LimitFacts } from '../limits/limits.js'
import { DEFAULT_LIMIT_SYNC_MS, LimitSync } from '../limits/sync.js'
import { FailureThrottle, type Throttled } from '../limits/throttle.js'
import { splitTarget } from '../lib/target.js'
import { PolicyEngine } from '../policy/engine.js'
import { POLICY_INPUT_VERSION, type PolicyDecision, type PolicyInput, type RunAsRequest } from '../policy/input.js'
import { isPolicySource, staticPolicy, type PolicySource } from '../policy/source.js'
import { AccountDirectory, type CacheOptions } from '../principal/accounts.js'
import type { CacheStats } from '../principal/lib/lookup-cache.js'
import { PrincipalResolver, type SessionVerifier } from '../principal/resolve.js'
import { Sessions } from '../sessions/sessions.js'
import { openStore, type Store, type StoreChange } from '../store/index.js'
import { resolveRunAs } from '../target/resolve.js'
import { DecisionMemo } from './memo.js'
import { DEFAULT_CACHE, DEFAULT_DECISION_MEMO, DEFAULT_DECISION_TIMEOUT_MS, throttleOptionsOf, validateOptions, type AuthorizerEvent, type AuthorizerOptions } from './options.js'
import type { AuthorizationResult, AuthorizeRequest, DecisionRecord } from './result.js'

export interface Authorizer {
  authorize(request: AuthorizeRequest): Promise<AuthorizationResult>
  /**
   * Decides as `authorize()` does and returns the policy input beside the
   * result, for explaining a decision. Not a decision of record: `onDecision`
   * is not called (no log entry, no usage, no security event).
   * `asKeyId`: decide as the key with this id, as if its secret were the
   * request's Authorization header (which is then ignored), to check what a
   * key may do without its secret.
   */
  explain(request: AuthorizeRequest, options?: { asKeyId?: string }): Promise<DecisionRecord>
  readonly store: Store
  /** The policy deciding now (it changes when the policy source reloads). */
  readonly policy: PolicyEngine
  readonly policySource: PolicySource
  /**
   * Hits, misses and sizes of the key, account and child-by-e-mail caches and
   * of the decision memo (`decisions`), counted since start.
   */
  cacheStats(): Record<'keys' | 'accounts' | 'children' | 'decisions', CacheStats>
  /** Drop what the caches know about a key, a user, or everything. */
  invalidate(target: { keyId?: string; userId?: string; keyHash?: Buffer } | 'all'): void
  close(): Promise<void>
}

export async function createAuthorizer (options: AuthorizerOptions = {}): Promise<Authorizer> {
  validateOptions(options)
  const policy = isPolicySource(options.policy)
    ? options.policy
    : options.policy instanceof PolicyEngine
      ? staticPolicy(options.policy)
      : staticPolicy(await PolicyEngine.fromBundle(options.policy ?? defaultBundlePath()), options.policy ?? defaultBundlePath())
  const ownsStore = options.store === undefined
  const store = options.store ?? await openStore({
    databaseUrl: options.databaseUrl,
    dataDir: options.dataDir,
    migrate: options.migrate ?? true
  })
  const ownSessions = options.sessions === undefined ? new Sessions({ db: store.database, clock: options.clock }) : null
  const sessions = options.sessions === false ? undefined : options.sessions ?? ownSessions ?? undefined
  const authorizer = new KeygateAuthorizer(store, ownsStore, policy, { ...options, sessions }, ownSessions)
  // A store down at start does not stop the authorizer (it answers 503 until the store is back): it retries.
  if (options.invalidation !== false) await authorizer.listen()
  await authorizer.startLimitSync()
  return authorizer
}

const LISTEN_RETRY_MIN_MS = 100
const LIMIT_COUNTERS_MAX = 100_000
const LISTEN_RETRY_MAX_MS = 5_000

export function defaultBundlePath (): string {
  return new URL('../../build/bundle.tar.gz', import.meta.url).pathname
}

class KeygateAuthorizer implements Authorizer {
  readonly store: Store
  readonly policySource: PolicySource
  readonly #ownsStore: boolean
  readonly #accounts: AccountDirectory
  readonly #principals: PrincipalResolver
  readonly #clock: () => number
  readonly #onDecision: ((record: DecisionRecord) => void | Promise<void>) | undefined
  readonly #onEvent: ((event: AuthorizerEvent) => void) | undefined
  readonly #decisionTimeoutMs: number
  readonly #memo: DecisionMemo
  readonly #throttle: FailureThrottle | null
  readonly #limits = new LimitCounters(LIMIT_COUNTERS_MAX)
  readonly #limitSync: LimitSync
  readonly #unwatchSessions: (() => void) | null
  /** The default verifier, made and closed here; null when the caller passed one (or none). */
  readonly #ownSessions: Sessions | null
  #unlisten: (() => Promise<void>) | null = null
  #listenRetry: NodeJS.Timeout | undefined
  #listenBackoffMs = LISTEN_RETRY_MIN_MS
  #closed = false

  constructor (store: Store, ownsStore: boolean, policy: PolicySource, options: AuthorizerOptions & { sessions?: SessionVerifier }, ownSessions: Sessions | null) {
    const cache: CacheOptions = { ...DEFAULT_CACHE, ...options.cache }
    this.store = store
    this.policySource = policy
    this.#ownsStore = ownsStore
    this.#ownSessions = ownSessions
    this.#onEvent = options.onEvent
    const hooks = { onStale: (cache: 'account' | 'key') => { this.#emit({ type: 'stale', cache }) } }
    this.#accounts = new AccountDirectory(store, cache, hooks)
    this.#principals = new PrincipalResolver(store, this.#accounts, cache, options.sessions, hooks)
    this.#clock = options.clock ?? Date.now
    this.#onDecision = options.onDecision
    this.#decisionTimeoutMs = options.decisionTimeoutMs ?? DEFAULT_DECISION_TIMEOUT_MS
    this.#memo = new DecisionMemo(options.decisionMemo ?? DEFAULT_DECISION_MEMO)
    const throttle = throttleOptionsOf(options.throttle)
    this.#throttle = throttle === null ? null : new FailureThrottle(throttle)
    this.#unwatchSessions = options.sessions?.onInvalidate?.(() => { this.#memo.clear() }) ?? null
    this.#limitSync = new LimitSync(this.#limits, store, {
      intervalMs: options.limitSyncMs ?? DEFAULT_LIMIT_SYNC_MS,
      clock: this.#clock,
      max: LIMIT_COUNTERS_MAX,
      onError: (error) => { this.#emit({ type: 'limit_sync_failed', error }) }
    })
  }

  /** Loads the counts of running windows (from before a restart, and other instances'), waiting at most a decision's deadline, then shares them in the background. */
  async startLimitSync (): Promise<void> {
    await this.#limitSync.start(this.#decisionTimeoutMs)
  }

  get policy (): PolicyEngine {
    return this.policySource.current()
  }

  async authorize (request: AuthorizeRequest): Promise<AuthorizationResult> {
    const throttle = this.#throttle
    const client = request.client?.address ?? null
    const prefix = throttle === null ? null : presentedPrefix(request)
    const throttled = throttle === null ? null : throttle.check(client, prefix, this.#clock())
    let record: DecisionRecord
    if (throttled !== null) {
      record = this.#throttledRecord(request, throttled)
    } else {
      const key = this.#memo.keyOf(request)
      record = (key === null ? null : this.#remembered(key)) ?? await this.#decide(request, key, true)
      if (throttle !== null && record.result.status === 401) throttle.failed(client, prefix, this.#clock())
    }
    if (this.#onDecision !== undefined) {
      if (request.client !== undefined) record.client = request.client
      // A promise is the decision log applying backpressure: wait for it.
      const pending = this.#onDecision(record)
      if (pending !== undefined) await pending.catch(() => {})
    }
    return record.result
  }

  async explain (request: AuthorizeRequest, options: { asKeyId?: string } = {}): Promise<DecisionRecord> {
    return await this.#decide(request, null, false, options.asKeyId)
  }

  /** The decision of the same request made earlier in this second, as a record of its own. */
  #remembered (key: string): DecisionRecord | null {
    const started = performance.now()
    const now = this.#clock()
    // A limit used up (or a window ended) since the decision: the policy decides again.
    let counters = null as LimitCounter[] | null
    const memo = this.#memo.get(key, this.policySource.current(), now, (m) => {
      if (m.input.limits === undefined) return true
      counters = this.#limits.counters(m.input.limits, now)
      return unchanged(m.input.limits, counters)
    })
    if (memo === undefined) return null
    const limits = memo.input.limits
    // Read above and counted here synchronously, as in #decide.
    const rateLimit = limits !== undefined && counters !== null ? this.#count(memo.result.allow, limits, counters, true, now) : null
    // The headers in the copy as it is made (a property added afterwards costs more than the rest of a hit).
    const result = copyResult(memo.result, uuidV7(), rateLimit)
    if (limits !== undefined && result.status === 429) result.retryAfterSeconds = retryAfterOf(limits, now)
    return {
      result,
      input: { ...memo.input, now },
      timestamp: new Date(now),
      durationMs: performance.now() - started,
      policyMs: 0,
      memo
    }
  }

  /** The 429 of a throttled client or prefix: decided before any lookup, the same whatever the credential. */
  #throttledRecord (request: AuthorizeRequest, throttled: Throttled): DecisionRecord {
    const started = performance.now()
    const input = this.#inputOf(request, parseCredentials(request.headers), { credential: null, principal: null, actor: null }, [])
    const result: AuthorizationResult = {
      allow: false,
      status: 429,
      code: 'RATE_LIMITED',
      reasons: [{
        code: 'authentication_throttled',
        msg: `${throttled.rule.failures} failed authentications within ${throttled.rule.windowSeconds} s ${throttled.by === 'client' ? 'from' : 'with key prefix'} ${throttled.value}`
      }],
      subject: null,
      actor: null,
      credential: { type: input.credential.type, id: null, prefix: null },
      action: null,
      decisionId: uuidV7(),
      policyRevision: this.policySource.current().revision,
      retryAfterSeconds: throttled.retryAfterSeconds
    }
    return { result, input, timestamp: new Date(this.#clock()), durationMs: performance.now() - started, policyMs: 0, throttled }
  }

  /** `memoKey`: where to remember the decision (null: nowhere, e.g. for explain()); `counts`: an admitted request counts against its limits (not for explain()). */
  async #decide (request: AuthorizeRequest, memoKey: string | null, counts: boolean, asKeyId?: string): Promise<DecisionRecord> {
    const started = performance.now()
    // One policy from start to end, whatever the source swaps in meanwhile.
    const policy = this.policySource.current()
    const generation = this.#memo.generation
    const decisionId = uuidV7()
    let input: PolicyInput | null = null
    let result: AuthorizationResult
    let policyMs = 0
    try {
      input = await this.#buildInput(request, started + this.#decisionTimeoutMs, asKeyId)
      // From reading the counters to counting this request, synchronously: no other decision comes between.
      const limits = this.#limits.facts(limitSubjects(input), input.now)
      if (limits.length > 0) input = { ...input, limits }
      const evaluating = performance.now()
      const decision = policy.evaluate(input)
      policyMs = performance.now() - evaluating
      result = toResult(decision, input, decisionId, policy.revision)
      // Remembered without the counts: a hit counts and makes its own headers.
      // (With a rateLimit field already, under limits: a hit's copy then replaces a field rather than adding one, which costs V8 far more.)
      if (memoKey !== null) this.#memo.set(memoKey, policy, generation, { result: copyResult(result, '', limits.length > 0 ? UNCOUNTED : null), input })
      if (limits.length > 0) {
        const rateLimit = this.#count(result.allow, limits, this.#limits.counters(limits, input.now), counts, input.now)
        if (rateLimit !== null) result.rateLimit = rateLimit
        if (result.status === 429) result.retryAfterSeconds = retryAfterOf(limits, input.now)
      }
    } catch (error) {
      // A fault is never an allow, and never a 401/403 for a credential that may be valid.
      result = unavailable(decisionId, policy.revision, error)
    }
    return { result, input, timestamp: new Date(), durationMs: performance.now() - started, policyMs }
  }

  /** Counts an admitted request against `limits` (unless `counts` is false: explain()); returns the RateLimit headers. */
  #count (allow: boolean, limits: readonly LimitFacts[], counters: LimitCounter[], counts: boolean, now: number): { policy: string; state: string } | null {
    if (allow && counts) this.#limits.admit(counters)
    return rateLimitHeaders(limits, counters, allow && !counts ? 1 : 0, now)
  }

  /**
   * Subscribes to the store's changes, so that what other instances revoke,
   * restrict or delete is dropped here at once. While it cannot hear them
   * (the listening connection lost, as in a failover, or not yet made), a
   * change could go unheard: the caches hold nothing and every decision asks
   * the store (503 while it cannot answer). Once it listens again they start
   * from empty. When the store cannot be reached, it retries with backoff
   * until it can, without failing.
   */
  async listen (): Promise<void> {
    if (this.#unlisten !== null || this.#closed) return
    const resync = (): void => {
      this.#trustCaches(true)
      this.#emit({ type: 'resync' })
    }
    const lost = (): void => {
      this.#trustCaches(false)
      this.#emit({ type: 'listen_lost' })
    }
    try {
      this.#unlisten = await this.store.onChange((change) => { this.#changed(change) }, { onResync: resync, onLost: lost })
    } catch (error) {
      lost()
      this.#emit({ type: 'listen_failed', error: error instanceof Error ? error : new Error(String(error)) })
      clearTimeout(this.#listenRetry)
      this.#listenRetry = setTimeout(() => {
        // Listening at last: the caches are trusted again, from empty.
        void this.listen().then(() => { if (this.#unlisten !== null) resync() })
      }, this.#listenBackoffMs).unref()
      this.#listenBackoffMs = Math.min(this.#listenBackoffMs * 2, LISTEN_RETRY_MAX_MS)
      return
    }
    this.#listenBackoffMs = LISTEN_RETRY_MIN_MS
    // Sessions ended on other instances; should this fail, the verified-token cache's TTL bounds how long one still passes here.
    await this.#ownSessions?.listen().catch((error: unknown) => {
      this.#emit({ type: 'listen_failed', error: error instanceof Error ? error : new Error(String(error)) })
    })
    if (this.#closed) {
      // Closed while subscribing.
      const unlisten = this.#unlisten
      this.#unlisten = null
      await unlisten().catch(() => {})
    }
  }

  cacheStats (): Record<'keys' | 'accounts' | 'children' | 'decisions', CacheStats> {
    return { keys: this.#principals.stats(), ...this.#accounts.stats(), decisions: this.#memo.stats() }
  }

  invalidate (target: { keyId?: string; userId?: string; keyHash?: Buffer } | 'all'): void {
    this.#forgetDecisions()
    if (target === 'all') {
      this.#principals.clear()
      this.#accounts.clear()
      return
    }
    if (target.keyId !== undefined) this.#principals.forgetKey(target.keyId)
    if (target.keyHash !== undefined) this.#principals.forgetKeyHash(target.keyHash)
    if (target.userId !== undefined) this.#accounts.forget(target.userId)
  }

  async close (): Promise<void> {
    this.#closed = true
    // What was counted since the last sync, kept for the next instance (or restart).
    await this.#limitSync.close()
    this.#unwatchSessions?.()
    clearTimeout(this.#listenRetry)
    const unlisten = this.#unlisten
    this.#unlisten = null
    await unlisten?.().catch(() => {})
    await this.#ownSessions?.close()
    if (this.#ownsStore) await this.store.close()
  }

  /** Untrusted: every cache emptied, and kept empty until trusted again (from empty). */
  #trustCaches (trusted: boolean): void {
    this.policySource.current().clearDecisions()
    for (const cache of [this.#memo, this.#principals, this.#accounts]) {
      if (trusted) cache.resume()
      else cache.suspend()
    }
  }

  #changed (change: StoreChange): void {
    this.#forgetDecisions()
    if (change.type === 'key') {
      this.#principals.forgetKey(change.id)
      this.#principals.forgetKeyHash(change.hash)
    } else {
      // With the answers under its parent: a child created (or moved) there must not stay hidden behind "no such child".
      this.#accounts.forget(change.id, change.parentId)
    }
    this.#emit({ type: 'invalidated', change })
  }

  /** Nothing decided before a change outlives it: the memo and the policy's decision cache. */
  #forgetDecisions (): void {
    this.#memo.clear()
    this.policySource.current().clearDecisions()
  }

  #emit (event: AuthorizerEvent): void {
    try {
      this.#onEvent?.(event)
    } catch {
      // An observer must not break invalidation.
    }
  }

  async #buildInput (request: AuthorizeRequest, deadline: number, asKeyId: string | undefined): Promise<PolicyInput> {
    const parsed = parseCredentials(request.headers)
    const credential: PresentedCredential = asKeyId !== undefined
      ? { type: 'stored_key', keyId: asKeyId }
      : request.console !== undefined && parsed.credential.type === 'none'
        ? { type: 'console_session', session: request.console }
        : parsed.credential
    const { runAs } = parsed
    // The policy refuses a malformed run-as header or a second credential
    // method (400) whatever the store says: look nothing up for such a
    // request, so that neither its answer nor its timing depends on an account.
    const lookups = !splitTarget(request.path).queryAccessToken && runAs.every((r) => r.wellFormed)
    const resolved = lookups
      ? await this.#principals.resolve(credential, deadline)
      : { credential: null, principal: null, actor: null }
    const runAsFacts = resolved.principal === null || runAs.length === 0
      ? null
      : await resolveRunAs(this.#accounts, resolved.principal, runAs, deadline)
    return this.#inputOf(request, { credential, runAs }, resolved, runAsFacts)
  }

  /** The input from what was resolved; `credential: null`: nothing was looked up. */
  #inputOf (
    request: AuthorizeRequest,
    { credential, runAs }: { credential: PresentedCredential; runAs: Array<{ via: RunAsRequest['via']; wellFormed: boolean }> },
    resolved: { credential: PolicyInput['credential'] | null; principal: PolicyInput['principal']; actor: PolicyInput['actor'] },
    runAsFacts: RunAsRequest[] | null
  ): PolicyInput {
    const { path, queryAccessToken } = splitTarget(request.path)
    return {
      version: POLICY_INPUT_VERSION,
      now: this.#clock(),
      request: { method: request.method.toUpperCase(), path, scheme: request.scheme ?? 'http', queryAccessToken },
      credential: resolved.credential ?? { type: credential.type === 'stored_key' ? 'secret_key' : credential.type, found: false },
      principal: resolved.principal,
      actor: resolved.actor,
      runAs: runAsFacts ?? runAs.map(({ via, wellFormed }) => ({ via, wellFormed, account: null }))
    }
  }
}

/** The key and its owner, with the limits the store has for them. */
function limitSubjects (input: PolicyInput): Array<{ scope: 'key' | 'account'; id: string; limits: NonNullable<PolicyInput['credential']['limits']> | null }> {
  const subjects: Array<{ scope: 'key' | 'account'; id: string; limits: NonNullable<PolicyInput['credential']['limits']> | null }> = []
  const { credential, principal } = input
  if (credential.limits !== undefined && credential.id !== undefined) subjects.push({ scope: 'key', id: credential.id, limits: credential.limits })
  if (principal?.limits !== undefined) subjects.push({ scope: 'account', id: principal.id, limits: principal.limits })
  return subjects
}

/** The display prefix of a presented secret key that passes its checksum (what the store would be asked about); else null. */
function presentedPrefix (request: AuthorizeRequest): string | null {
  const { credential } = parseCredentials(request.headers)
  return credential.type === 'secret_key' ? displayPrefix(credential.key) : null
}

function toResult (decision: PolicyDecision, input: PolicyInput, decisionId: string, revision: string): AuthorizationResult {
  return {
    allow: decision.allow,
    status: decision.status,
    code: decision.code,
    reasons: decision.reasons,
    subject: decision.subject,
    actor: decision.actor,
    credential: {
      type: input.credential.type,
      id: input.credential.id ?? null,
      prefix: input.credential.prefix ?? null
    },
    action: decision.action,
    decisionId,
    policyRevision: revision
  }
}

/**
 * Callers own what they get: a remembered result is handed out as a copy, with its own decision id (and RateLimit headers).
 * `r` as toResult makes it (no retryAfterSeconds: each 429 sets its own). Every field in the literal, none spread or added
 * after: one shape for every copy, which V8 makes and reads fastest on a memo hit.
 */
function copyResult (r: AuthorizationResult, decisionId: string, rateLimit: AuthorizationResult['rateLimit'] | null = null): AuthorizationResult {
  const reasons = r.reasons.map((reason) => ({ ...reason }))
  const credential = { type: r.credential.type, id: r.credential.id, prefix: r.credential.prefix }
  const action = r.action === null ? null : { ...r.action }
  const { allow, status, code, subject, actor, policyRevision } = r
  return rateLimit === null
    ? { allow, status, code, reasons, subject, actor, credential, action, decisionId, policyRevision }
    : { allow, status, code, reasons, subject, actor, credential, action, decisionId, policyRevision, rateLimit }
}

/** The RateLimit headers of a remembered decision, in the memo only: every hit makes its own. */
const UNCOUNTED = Object.freeze({ policy: '', state: '' })

/** Retry-After of a 429 under limits: when the last used-up limit resets. */
function retryAfterOf (limits: readonly LimitFacts[], now: number): number {
  const exhausted = limits.filter((l) => l.exhausted)
  return Math.max(...(exhausted.length > 0 ? exhausted : limits).map((l) => resetSeconds(l, now)))
}

function unavailable (decisionId: string, revision: string | null, error: unknown): AuthorizationResult {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'INTERNAL'
  return {
    allow: false,
    status: 503,
    code: 'SERVICE_UNAVAILABLE',
    reasons: [{ code: code.toLowerCase(), msg: 'the decision could not be made' }],
    subject: null,
    actor: null,
    credential: { type: 'none', id: null, prefix: null },
    action: null,
    decisionId,
    policyRevision: revision
  }
}
