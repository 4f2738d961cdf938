/**
 * Errors the sessions module throws on purpose. Each has a stable `code` (on
 * the class and on the instance) and keeps the underlying error as `cause`.
 * Bad tokens are never errors: `verify` answers null. Misuse by the
 * programmer (bad options) throws a plain TypeError.
 */
export class SessionError extends Error {
  static code = 'SESSION_ERROR'
  code = 'SESSION_ERROR'

  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = this.constructor.name
  }
}

/** A mint request the caller can fix: duration out of range, malformed allowedRoutes. The message is safe to show. */
export class InvalidSessionRequestError extends SessionError {
  static override code = 'INVALID_SESSION_REQUEST'
  override code = 'INVALID_SESSION_REQUEST'
}

/** The user a session was asked for does not exist, is deleted or is disabled. */
export class SessionUserNotFoundError extends SessionError {
  static override code = 'USER_NOT_FOUND'
  override code = 'USER_NOT_FOUND'
}

/** No such session among the caller's own. */
export class SessionNotFoundError extends SessionError {
  static override code = 'SESSION_NOT_FOUND'
  override code = 'SESSION_NOT_FOUND'
}

/**
 * The signing secret (KEYGATE_SIGNING_SECRET or the embedded key file) is
 * missing, malformed, too widely readable, or does not open the stored keys.
 * An operator fault: the message names the fix and never contains the secret.
 */
export class SigningSecretError extends SessionError {
  static override code = 'SIGNING_SECRET_INVALID'
  override code = 'SIGNING_SECRET_INVALID'
}
