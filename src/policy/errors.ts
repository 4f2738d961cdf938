import { KeygateError, type KeygateErrorCode } from '../errors.js'

/**
 * Policy faults: the policy could not be loaded or did not produce a
 * well-formed decision. A fault is never a deny; callers fail closed with 503.
 * Each class has a stable `code` (static and on the instance); the underlying
 * error, often a string thrown by opa-wasm, is kept as `cause`.
 */
export class PolicyFault extends KeygateError {
  static override code: KeygateErrorCode = 'POLICY_FAULT'
}

/** A bundle that cannot be read, unpacked, instantiated or lacks the entrypoint. */
export class PolicyBundleError extends PolicyFault {
  static override code: KeygateErrorCode = 'POLICY_BUNDLE_INVALID'
}
