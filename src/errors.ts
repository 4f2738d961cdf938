/**
 * Keygate's errors, in one place: every code, the HTTP status it is answered
 * with, and whether its message is safe to show the caller.
 *
 * Public codes (with a default `message`) are the ones HTTP bodies carry,
 * always as `{"message": …, "code": …}`, the shape @chatbotkit/sdk reads; the
 * "Errors" table of docs/server.md documents each (a test keeps them in step). Each has
 * a status of its own. Every other code is answered with the public code of
 * its status, so a handler never needs to know which layer threw.
 */
export const ERRORS = {
  INVALID_REQUEST: { status: 400, message: 'Invalid request', expose: true },
  NOT_AUTHENTICATED: { status: 401, message: 'Not authenticated', expose: true },
  NOT_AUTHORIZED: { status: 403, message: 'Not authorized', expose: true },
  // One message for every "not found", so that nothing tells a stranger's record from a missing one.
  NOT_FOUND: { status: 404, message: 'Not found', expose: false },
  REQUEST_TIMEOUT: { status: 408, message: 'Request timeout', expose: true },
  CONFLICT: { status: 409, message: 'Conflict', expose: true },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'Request body too large', expose: true },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported media type', expose: true },
  RATE_LIMITED: { status: 429, message: 'Too many requests', expose: true },
  HEADERS_TOO_LARGE: { status: 431, message: 'Request headers too large', expose: true },
  INTERNAL_ERROR: { status: 500, message: 'Internal error', expose: false },
  SERVICE_UNAVAILABLE: { status: 503, message: 'Service unavailable', expose: false },

  // manage/ (it also throws NOT_FOUND and CONFLICT)
  INVALID_INPUT: { status: 400, expose: true },
  // store/
  INVALID_CURSOR: { status: 400, expose: true },
  // The database's own wording names tables and constraints: not for callers.
  INVALID_VALUE: { status: 400, expose: false },
  USER_NOT_FOUND: { status: 404, expose: false },
  EMAIL_TAKEN: { status: 409, expose: true },
  STORE_UNAVAILABLE: { status: 503, expose: false },
  // policy/: a fault is never a deny, it fails closed.
  POLICY_FAULT: { status: 503, expose: false },
  POLICY_BUNDLE_INVALID: { status: 503, expose: false },
  // sessions/
  INVALID_SESSION_REQUEST: { status: 400, expose: true },
  SESSION_USER_NOT_FOUND: { status: 404, expose: false },
  SESSION_NOT_FOUND: { status: 404, expose: false },
  SESSION_CONFIG_INVALID: { status: 500, expose: false },
  // config/
  CONFIG_INVALID: { status: 500, expose: false },
  // cli/ (never answered over HTTP)
  OPERATION_FAILED: { status: 500, expose: false },
  ADMIN_REQUEST_UNKNOWN: { status: 500, expose: false }
} as const satisfies Record<string, { status: number; message?: string; expose: boolean }>

export type KeygateErrorCode = keyof typeof ERRORS

/** The codes an HTTP body may carry. */
export type HttpErrorCode = { [C in KeygateErrorCode]: typeof ERRORS[C] extends { message: string } ? C : never }[KeygateErrorCode]

export const HTTP_ERROR_CODES = (Object.keys(ERRORS) as KeygateErrorCode[])
  .filter((code): code is HttpErrorCode => 'message' in ERRORS[code])

const ANSWER_OF_STATUS = new Map<number, HttpErrorCode>(HTTP_ERROR_CODES.map((code) => [ERRORS[code].status, code]))

export function isKeygateErrorCode (code: unknown): code is KeygateErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
}

/**
 * The root of Keygate's coded errors. A subclass declares a stable
 * `static code`, or passes one (HttpError); instances carry it as `code`,
 * `name` is the class name, and the underlying error is kept as `cause`.
 * Coded errors describe untrusted input or infrastructure faults; programmer
 * misuse (bad options) throws a plain TypeError instead.
 */
export abstract class KeygateError extends Error {
  static code: KeygateErrorCode = 'INTERNAL_ERROR'
  readonly code: KeygateErrorCode

  constructor (message: string, options?: { cause?: unknown; code?: KeygateErrorCode }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = options?.code ?? (new.target as unknown as typeof KeygateError).code
  }
}

/** An error that is an HTTP answer as it stands; the message must be safe to show. */
export class HttpError extends KeygateError {
  declare readonly code: HttpErrorCode

  constructor (code: HttpErrorCode, message: string = ERRORS[code].message) {
    super(message, { code })
  }

  get status (): number {
    return ERRORS[this.code].status
  }
}

/**
 * What the caller of an HTTP API is told about a coded error: the public
 * code of its status, with its message only where the code allows it.
 */
export function httpErrorOf (error: KeygateError): HttpError {
  const { status, expose } = ERRORS[error.code]
  const code = ANSWER_OF_STATUS.get(status) ?? 'INTERNAL_ERROR'
  if (error instanceof HttpError && (expose || error.message === ERRORS[code].message)) return error
  return new HttpError(code, expose ? error.message : undefined)
}

/** The body of every error answer. */
export function errorBody (code: HttpErrorCode, message: string = ERRORS[code].message): string {
  return JSON.stringify({ message, code })
}
