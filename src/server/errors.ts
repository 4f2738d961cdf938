/**
 * Every error the server answers with, in one place: a stable code, the HTTP
 * status and the default message. Bodies are always
 * `{"message": …, "code": …}`, the shape @chatbotkit/sdk reads. The README's
 * "Errors" table documents each code (a test keeps them in step).
 */
export const ERRORS = {
  INVALID_REQUEST: { status: 400, message: 'Invalid request' },
  NOT_AUTHENTICATED: { status: 401, message: 'Not authenticated' },
  NOT_AUTHORIZED: { status: 403, message: 'Not authorized' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  REQUEST_TIMEOUT: { status: 408, message: 'Request timeout' },
  CONFLICT: { status: 409, message: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported media type' },
  RATE_LIMITED: { status: 429, message: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, message: 'Request headers too large' },
  INTERNAL_ERROR: { status: 500, message: 'Internal error' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'Service unavailable' }
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

/** An error that becomes an HTTP answer from the catalogue; the message must be safe to show. */
export class HttpError extends Error {
  readonly code: ErrorCode
  readonly status: number

  constructor (code: ErrorCode, message: string = ERRORS[code].message) {
    super(message)
    this.name = 'HttpError'
    this.code = code
    this.status = ERRORS[code].status
  }
}

export function errorBody (code: ErrorCode, message: string = ERRORS[code].message): string {
  return JSON.stringify({ message, code })
}
