import { readFile } from 'node:fs/promises'
import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { readBundle } from './bundle.js'
import { toDecision } from './decision.js'
import { PolicyBundleError, PolicyFault } from './errors.js'
import type { PolicyDecision, PolicyInput } from './input.js'
import { WasmEvaluator } from './wasm.js'

export const ENTRYPOINT = 'keygate/authz/decision'

/** `build/bundle.tar.gz` at the package root (resolves the same from src/ and dist/). */
export const DEFAULT_BUNDLE_PATH = new URL('../../build/bundle.tar.gz', import.meta.url).pathname

export interface PolicyEngineOptions {
  /**
   * How many recent distinct inputs keep their answer (default 1024; 0 turns
   * it off). The policy is a pure function of its input and this engine's
   * data, and the input includes `now`, so a hit is exactly the answer the
   * policy would give: it only saves work on identical requests within the
   * same millisecond. Bounded in entries, oldest evicted first.
   */
  decisionCache?: number
}

// Evaluated once at load: a bundle that cannot decide this is not handed out.
const CANARY: PolicyInput = {
  version: 1,
  now: 0,
  request: { method: 'GET', path: '/api/v1/bot/list', scheme: 'https' },
  credential: { type: 'none', found: false },
  principal: null,
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
  // Decision cache: input JSON → output JSON, oldest evicted first (a ring of keys).
  readonly #cache: Map<string, string> | null
  readonly #ring: Array<string | undefined>
  #next = 0

  private constructor(wasm: WasmEvaluator, revision: string, cacheSize: number) {
    this.#wasm = wasm
    this.revision = revision
    this.#cache = cacheSize > 0 ? new Map() : null
    this.#ring = new Array<string | undefined>(cacheSize).fill(undefined)
  }

  /**
   * Loads a bundle from a file path or its bytes. Throws PolicyBundleError
   * when it cannot be read, unpacked or instantiated, lacks the entrypoint,
   * or fails to produce a well-formed decision for a canary input.
   */
  static async fromBundle(source: string | Uint8Array = DEFAULT_BUNDLE_PATH, options: PolicyEngineOptions = {}): Promise<PolicyEngine> {
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
      policy.setData(bundle.data)
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
  evaluate(input: PolicyInput): PolicyDecision {
    let resultSet: unknown
    try {
      const json = JSON.stringify(input)
      let out = this.#cache?.get(json)
      if (out === undefined) {
        out = this.#wasm.evaluate(json)
        this.#remember(json, out)
      }
      resultSet = JSON.parse(out)
    } catch (error) {
      throw new PolicyFault(`policy evaluation failed: ${describe(error)}`, { cause: error })
    }
    return toDecision(resultSet)
  }

  #remember(input: string, output: string): void {
    const cache = this.#cache
    if (cache === null) return
    const evicted = this.#ring[this.#next]
    if (evicted !== undefined) cache.delete(evicted)
    this.#ring[this.#next] = input
    this.#next = (this.#next + 1) % this.#ring.length
    cache.set(input, output)
  }
}

// opa-wasm throws strings (opa_abort) and plain objects as well as Errors.
function describe(error: unknown): string {
  if (error instanceof Error) return error.message
  if (typeof error === 'string') return error
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === 'string' ? message : String(error)
}
