import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { expiresWithinSecond, SecondCache, SECOND_MS } from '../lib/second-cache.js'
import { readBundle } from './bundle.js'
import { toDecision } from './decision.js'
import { PolicyBundleError, PolicyFault } from './errors.js'
import { POLICY_INPUT_VERSION, type PolicyDecision, type PolicyInput } from './input.js'
import { WasmEvaluator } from './wasm.js'

export const ENTRYPOINT = 'keygate/authz/decision'

/** `build/bundle.tar.gz` at the package root (resolves the same from src/ and dist/). */
export const DEFAULT_BUNDLE_PATH = fileURLToPath(new URL('../../build/bundle.tar.gz', import.meta.url))

export interface PolicyEngineOptions {
  /**
   * How many distinct inputs of the current second keep their answer
   * (default 1024; 0 turns it off). Bounded in entries, oldest evicted first,
   * and emptied when the second changes.
   *
   * The policy is a pure function of its input and this engine's data. The
   * cache keys on the whole input except `now`, which it takes to the whole
   * second ({@link DECISION_CACHE_RESOLUTION_MS}); an input whose credential
   * expires within that second is never cached. So a hit is exactly the
   * answer the policy would give for as long as the policy reads `now` only
   * to compare it with `credential.expiresAt` or at a resolution of whole
   * seconds, as the default policy does. A policy that needs finer use of the
   * clock must be loaded with `decisionCache: 0`.
   */
  decisionCache?: number
  /**
   * Settings laid over the bundle's `data.keygate.config` (e.g.
   * `{ require_https: true }`), so that an operator changes them without
   * rebuilding the bundle. Keys the bundle does not have are refused.
   */
  config?: Record<string, unknown>
}

/** The decision cache takes `now` to this resolution (see PolicyEngineOptions.decisionCache). */
export const DECISION_CACHE_RESOLUTION_MS = SECOND_MS

// Evaluated once at load: a bundle that cannot decide this is not handed out.
const CANARY: PolicyInput = {
  version: POLICY_INPUT_VERSION,
  now: 0,
  request: { method: 'GET', path: '/api/v1/bot/list', scheme: 'https' },
  credential: { type: 'none', found: false },
  principal: null,
  actor: null,
  runAs: [],
}

/**
 * The compiled policy, loaded from an `opa build -t wasm` bundle, and the one
 * place that talks to opa-wasm: whatever it throws or returns becomes a
 * PolicyDecision or a PolicyFault. Evaluation is synchronous.
 */
export class PolicyEngine {
  /** The bundle's `.manifest` revision ('' if it has none). */
  readonly revision: string
  readonly #wasm: WasmEvaluator
  // Decision cache: input JSON with `now` in whole seconds → the checked decision.
  readonly #cache: SecondCache<PolicyDecision>

  private constructor (wasm: WasmEvaluator, revision: string, cacheSize: number) {
    this.#wasm = wasm
    this.revision = revision
    this.#cache = new SecondCache(cacheSize)
  }

  /**
   * Loads a bundle from a file path or its bytes. Throws PolicyBundleError
   * when it cannot be read, unpacked or instantiated, lacks the entrypoint,
   * or fails to produce a well-formed decision for a canary input.
   */
  static async fromBundle (source: string | Uint8Array = DEFAULT_BUNDLE_PATH, options: PolicyEngineOptions = {}): Promise<PolicyEngine> {
    const cacheSize = options.decisionCache ?? 1024
    if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new TypeError('PolicyEngine: decisionCache must be a non-negative integer')
    let bytes: Uint8Array
    if (typeof source === 'string') {
      try {
        bytes = await readFile(source)
      } catch (error) {
        throw new PolicyBundleError(`cannot read policy bundle ${source}`, { cause: error })
      }
    } else if (source instanceof Uint8Array) {
      bytes = source
    } else {
      throw new TypeError('PolicyEngine.fromBundle: source must be a path or a Uint8Array')
    }

    const bundle = await readBundle(bytes, ENTRYPOINT)
    let wasm: WasmEvaluator | null
    try {
      const policy = await loadPolicy(bundle.wasm)
      policy.setData(withConfig(bundle.data, options.config))
      const id: unknown = policy.entrypoints?.[ENTRYPOINT]
      if (typeof id !== 'number') throw new PolicyBundleError(`policy bundle has no entrypoint ${ENTRYPOINT}`)
      wasm = WasmEvaluator.from(policy, id)
    } catch (error) {
      if (error instanceof PolicyBundleError) throw error
      throw new PolicyBundleError(`cannot load the policy's WebAssembly module: ${describe(error)}`, { cause: error })
    }
    if (wasm === null) throw new PolicyBundleError('policy module does not implement OPA Wasm ABI 1.2 (opa_eval)')

    const engine = new PolicyEngine(wasm, bundle.revision, cacheSize)
    try {
      engine.evaluate(CANARY)
    } catch (error) {
      throw new PolicyBundleError(`policy bundle fails its canary evaluation: ${describe(error)}`, { cause: error })
    }
    return engine
  }

  /** Decides one request. A deny is a result; a PolicyFault means no decision could be made. */
  evaluate (input: PolicyInput): PolicyDecision {
    const key = this.#cacheKey(input)
    if (key !== null) {
      const hit = this.#cache.get(key, input.now)
      if (hit !== undefined) return copyDecision(hit)
    }
    let resultSet: unknown
    try {
      resultSet = JSON.parse(this.#wasm.evaluate(JSON.stringify(input)))
    } catch (error) {
      throw new PolicyFault(`policy evaluation failed: ${describe(error)}`, { cause: error })
    }
    const decision = toDecision(resultSet)
    if (key !== null) this.#cache.set(key, copyDecision(decision), input.now)
    return decision
  }

  /**
   * Drops every cached decision. Not needed for soundness (a changed fact is a
   * changed input, hence another key) but called by the authorizer's
   * invalidations, so that nothing decided before a revocation outlives it.
   */
  clearDecisions (): void {
    this.#cache.clear()
  }

  /**
   * The input as JSON with `now` in whole seconds, or null when the cache is
   * off or the answer could change within the second: a malformed `now`, or a
   * credential expiring in it.
   */
  #cacheKey (input: PolicyInput): string | null {
    if (!this.#cache.enabled) return null
    const now = input?.now
    if (typeof now !== 'number' || !Number.isFinite(now)) return null
    if (expiresWithinSecond(input.credential?.expiresAt, now)) return null
    try {
      return JSON.stringify({ ...input, now: Math.floor(now / DECISION_CACHE_RESOLUTION_MS) })
    } catch (error) {
      throw new PolicyFault(`policy evaluation failed: ${describe(error)}`, { cause: error })
    }
  }
}

/** Callers own what they get: a decision from the cache is handed out as a copy. */
function copyDecision (d: PolicyDecision): PolicyDecision {
  return {
    allow: d.allow,
    status: d.status,
    code: d.code,
    reasons: d.reasons.map((r) => ({ code: r.code, msg: r.msg })),
    subject: d.subject,
    actor: d.actor,
    action: d.action === null ? null : { resource: d.action.resource, verb: d.action.verb, class: d.action.class },
  }
}

// opa-wasm throws strings (opa_abort) and plain objects as well as Errors.
function describe (error: unknown): string {
  if (error instanceof Error) return error.message
  if (typeof error === 'string') return error
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === 'string' ? message : String(error)
}

function withConfig (data: object, config: Record<string, unknown> | undefined): object {
  if (config === undefined || Object.keys(config).length === 0) return data
  const keygate = (data as { keygate?: { config?: Record<string, unknown> } }).keygate
  const current = keygate?.config
  if (current === undefined) throw new PolicyBundleError('policy bundle has no data.keygate.config to apply settings to')
  for (const name of Object.keys(config)) {
    if (!(name in current)) throw new PolicyBundleError(`policy bundle has no setting data.keygate.config.${name}`)
  }
  return { ...data, keygate: { ...keygate, config: { ...current, ...config } } }
}
