import { KeygateError, type KeygateErrorCode } from '../errors.js'

/**
 * Errors the store throws on purpose. Each has a stable `code` (on the class
 * and on the instance) and keeps the driver's error as `cause`.
 *
 * `StoreUnavailableError` is the infrastructure failure (server unreachable,
 * connection lost, timeout, store closed): callers answer 503 and never treat
 * it as "not found". Every other code describes the data asked for.
 */
export abstract class StoreError extends KeygateError {}

/** The database cannot be reached or did not answer in time. */
export class StoreUnavailableError extends StoreError {
  static override code: KeygateErrorCode = 'STORE_UNAVAILABLE'
}

/** Another live account under the same parent already uses this e-mail address. */
export class StoreConflictError extends StoreError {
  static override code: KeygateErrorCode = 'EMAIL_TAKEN'
}

/** A record refers to a user that does not exist or is deleted (parent of a new account, owner of a new key). */
export class StoreNotFoundError extends StoreError {
  static override code: KeygateErrorCode = 'USER_NOT_FOUND'
}

/** A page cursor that this store did not hand out for this listing. */
export class InvalidCursorError extends StoreError {
  static override code: KeygateErrorCode = 'INVALID_CURSOR'
}

/** A value the schema refuses: malformed e-mail, restriction flag or role, oversized name, … */
export class InvalidValueError extends StoreError {
  static override code: KeygateErrorCode = 'INVALID_VALUE'
}
