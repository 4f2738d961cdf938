import { randomUUID } from 'node:crypto'
import { parseCredentials } from '../credentials/parse.js'
import { PolicyEngine } from '../policy/engine.js'
import { POLICY_INPUT_VERSION, type PolicyDecision, type PolicyInput } from '../policy/input.js'
import { AccountDirectory, type CacheOptions } from '../principal/accounts.js'
import { PrincipalResolver } from '../principal/resolve.js'
import { openStore, type Store } from '../store/index.js'
import { resolveRunAs } from '../target/resolve.js'
import { DEFAULT_CACHE, validateOptions, type AuthorizerOptions } from './options.js'
import type { AuthorizationResult, AuthorizeRequest, DecisionRecord } from './result.js'

export interface Authorizer {
  authorize(request: AuthorizeRequest): Promise<AuthorizationResult>
  /**
   * Decides as `authorize()` does and returns the policy input beside the
   * result, for explaining a decision. Not a decision of record: `onDecision`
   * is not called (no log entry, no usage, no security event).
   */
  explain(request: AuthorizeRequest): Promise<DecisionRecord>
  readonly store: Store
  readonly policy: PolicyEngine
  /** Drop what the caches know about a key, a user, or everything. */
  invalidate(target: { keyId?: string; userId?: string; keyHash?: Buffer } | 'all'): void
  close(): Promise<void>
}

export async function createAuthorizer (options: AuthorizerOptions = {}): Promise<Authorizer> {
  validateOptions(options)
  const policy = typeof options.policy === 'object'
    ? options.policy
    : await PolicyEngine.fromBundle(options.policy ?? defaultBundlePath())
  const ownsStore = options.store === undefined
  const store = options.store ?? await openStore({
    databaseUrl: options.databaseUrl,
    dataDir: options.dataDir,
    migrate: options.migrate ?? true
  })
  return new KeygateAuthorizer(store, ownsStore, policy, options)
}

export function defaultBundlePath (): string {
  return new URL('../../build/bundle.tar.gz', import.meta.url).pathname
}

class KeygateAuthorizer implements Authorizer {
  readonly store: Store
  readonly policy: PolicyEngine
  readonly #ownsStore: boolean
  readonly #accounts: AccountDirectory
  readonly #principals: PrincipalResolver
  readonly #clock: () => number
  readonly #onDecision: ((record: DecisionRecord) => void | Promise<void>) | undefined

  constructor (store: Store, ownsStore: boolean, policy: PolicyEngine, options: AuthorizerOptions) {
    const cache: CacheOptions = { ...DEFAULT_CACHE, ...options.cache }
    this.store = store
    this.policy = policy
    this.#ownsStore = ownsStore
    this.#accounts = new AccountDirectory(store, cache)
    this.#principals = new PrincipalResolver(store, this.#accounts, cache, options.sessions)
    this.#clock = options.clock ?? Date.now
    this.#onDecision = options.onDecision
  }

  async authorize (request: AuthorizeRequest): Promise<AuthorizationResult> {
    const started = performance.now()
    const decisionId = randomUUID()
    let input: PolicyInput | null = null
    let result: AuthorizationResult
    try {
      input = await this.#buildInput(request)
      result = toResult(this.policy.evaluate(input), input, decisionId, this.policy.revision)
    } catch (error) {
      // A fault is never an allow, and never a 401/403 for a credential that may be valid.
      result = unavailable(decisionId, this.policy.revision, error)
    }
    if (this.#onDecision !== undefined) {
      const record: DecisionRecord = { result, input, timestamp: new Date(), durationMs: performance.now() - started }
      if (request.client !== undefined) record.client = request.client
      // A promise is the decision log applying backpressure: wait for it.
      const pending = this.#onDecision(record)
      if (pending !== undefined) await pending.catch(() => {})
    }
    return result
  }

  async explain (request: AuthorizeRequest): Promise<DecisionRecord> {
    const started = performance.now()
    const decisionId = randomUUID()
    let input: PolicyInput | null = null
    let result: AuthorizationResult
    try {
      input = await this.#buildInput(request)
      result = toResult(this.policy.evaluate(input), input, decisionId, this.policy.revision)
    } catch (error) {
      result = unavailable(decisionId, this.policy.revision, error)
    }
    return { result, input, timestamp: new Date(), durationMs: performance.now() - started }
  }

  invalidate (target: { keyId?: string; userId?: string; keyHash?: Buffer } | 'all'): void {
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
    if (this.#ownsStore) await this.store.close()
  }

  async #buildInput (request: AuthorizeRequest): Promise<PolicyInput> {
    const { credential, runAs } = parseCredentials(request.headers)
    const resolved = await this.#principals.resolve(credential)
    const runAsFacts = resolved.principal === null || runAs.length === 0
      ? runAs.map(({ via, wellFormed }) => ({ via, wellFormed, account: null }))
      : await resolveRunAs(this.#accounts, resolved.principal, runAs)
    return {
      version: POLICY_INPUT_VERSION,
      now: this.#clock(),
      request: { method: request.method.toUpperCase(), path: stripQuery(request.path), scheme: request.scheme ?? 'http' },
      credential: resolved.credential,
      principal: resolved.principal,
      runAs: runAsFacts
    }
  }
}

function stripQuery (target: string): string {
  const end = target.search(/[?#]/)
  return end === -1 ? target : target.slice(0, end)
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
