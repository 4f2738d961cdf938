import type { PolicyEngine } from './engine.js'

/** What a policy source reports about the policy it serves (`/readyz`, metrics). */
export interface PolicyStatus {
  /** The revision of the policy deciding now ('' when its bundle has none). */
  revision: string
  /** Where bundles come from: a file path, a URL, or `(given)` for an engine passed in. */
  source: string
  /** When the policy deciding now was loaded. */
  loadedAt: Date
  /** Bundles loaded after the first. */
  reloads: number
  /** Bundles (or downloads) refused since the start; the last good policy stayed. */
  failures: number
  /** The last refusal, if any, even when a good bundle has been loaded since. */
  lastError: { message: string; at: Date } | null
}

/**
 * Where the authorizer gets its policy. `current()` is read once at the start
 * of every decision, so a decision runs on one policy from start to end, and
 * replacing the policy is a single assignment.
 */
export interface PolicySource {
  current(): PolicyEngine
  status(): PolicyStatus
  /** Stops watching or polling; the current policy stays usable. */
  close(): Promise<void>
}

/** A policy that never changes. */
export function staticPolicy (engine: PolicyEngine, source = '(given)'): PolicySource {
  const status: PolicyStatus = { revision: engine.revision, source, loadedAt: new Date(), reloads: 0, failures: 0, lastError: null }
  return {
    current: () => engine,
    status: () => ({ ...status }),
    close: async () => {}
  }
}

export function isPolicySource (value: unknown): value is PolicySource {
  return typeof value === 'object' && value !== null &&
    typeof (value as PolicySource).current === 'function' && typeof (value as PolicySource).status === 'function'
}
