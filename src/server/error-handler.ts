import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { notAuthorized } from '../adapters/http.js'
import { sendAnswer } from '../adapters/fastify-plugin.js'
import { ConflictError, InvalidInputError, NotFoundError } from '../manage/errors.js'
import { PolicyFault } from '../policy/errors.js'
import { InvalidCursorError, InvalidValueError, StoreConflictError, StoreNotFoundError, StoreUnavailableError } from '../store/errors.js'
import { ERRORS, errorBody, HttpError, type ErrorCode } from './errors.js'

/** Turns anything a handler throws into an entry of the catalogue; only INTERNAL_ERROR hides the message. */
export function toHttpError (error: unknown): HttpError {
  if (error instanceof HttpError) return error
  if (error instanceof InvalidInputError || error instanceof InvalidCursorError) return new HttpError('INVALID_REQUEST', error.message)
  // The database's own wording names tables and constraints: not for callers.
  if (error instanceof InvalidValueError) return new HttpError('INVALID_REQUEST')
  // One message for every "not found", so that nothing tells a stranger's record from a missing one.
  if (error instanceof NotFoundError || error instanceof StoreNotFoundError) return new HttpError('NOT_FOUND')
  if (error instanceof ConflictError || error instanceof StoreConflictError) return new HttpError('CONFLICT', error.message)
  if (error instanceof StoreUnavailableError || error instanceof PolicyFault) return new HttpError('SERVICE_UNAVAILABLE')
  const fastifyError = error as Partial<FastifyError>
  if (fastifyError.validation !== undefined) return new HttpError('INVALID_REQUEST', fastifyError.message)
  switch (fastifyError.statusCode) {
    case 400: return new HttpError('INVALID_REQUEST', fastifyError.message)
    case 413: return new HttpError('PAYLOAD_TOO_LARGE')
    case 415: return new HttpError('UNSUPPORTED_MEDIA_TYPE')
    default: return new HttpError('INTERNAL_ERROR')
  }
}

export function errorHandler (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const httpError = toHttpError(error)
  if (httpError.code === 'INTERNAL_ERROR' || httpError.code === 'SERVICE_UNAVAILABLE') {
    request.log.error({ err: error }, 'request failed')
  }
  // The same bytes as a 403 from the policy: a refusal never says which rule refused.
  if (httpError.code === 'NOT_AUTHORIZED') return sendAnswer(reply, notAuthorized())
  return sendError(reply, httpError.code, httpError.message)
}

export function notFoundHandler (_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, 'NOT_FOUND')
}

export function sendError (reply: FastifyReply, code: ErrorCode, message?: string): FastifyReply {
  return reply
    .code(ERRORS[code].status)
    .header('content-type', 'application/json; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(errorBody(code, message))
}

/** Errors before a request exists (oversized headers, garbage, timeouts), answered in the same JSON shape. */
export function clientErrorHandler (error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const code: ErrorCode = error.code === 'HPE_HEADER_OVERFLOW'
    ? 'HEADERS_TOO_LARGE'
    : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'INVALID_REQUEST'
  const body = errorBody(code)
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${ERRORS[code].status} ${ERRORS[code].message}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
  socket.destroy(error)
}
