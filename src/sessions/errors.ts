import { KeygateError, type KeygateErrorCode } from '../errors.js'

/**
 * Errors the sessions module throws on purpose. Each has a stable `code` (on
 * the class and on the instance) and keeps the underlying error as `cause`.
 * Bad tokens are never errors: `verify` answers null. Misuse by the
 * programmer (bad options) throws a plain TypeError.
 */
export abstract class SessionError extends KeygateError {}

/** A mint request the caller can fix: duration out of range, malformed allowedRoutes. The message is safe to show. */
export class InvalidSessionRequestError extends SessionError {
  static override code: KeygateErrorCode = 'INVALID_SESSION_REQUEST'
}

/** The user a session was asked for does not exist, is deleted or is disabled. */
export class SessionUserNotFoundError extends SessionError {
  static override code: KeygateErrorCode = 'SESSION_USER_NOT_FOUND'
}

/** No such session among the caller's own. */
export class SessionNotFoundError extends SessionError {
  static override code: KeygateErrorCode = 'SESSION_NOT_FOUND'
}

/**
 * The operator's session configuration is wrong: the signing secret
 * (KEYGATE_SIGNING_SECRET or the embedded key file) is missing, malformed,
 * too widely readable or does not open the stored keys, or a KEYGATE_SESSION_*
 * variable is out of range. The message names the fix and never holds a secret.
 */
export class SessionConfigError extends SessionError {
  static override code: KeygateErrorCode = 'SESSION_CONFIG_INVALID'
}
