import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { notAuthorized } from '../adapters/http.js'
import { sendAnswer } from '../adapters/fastify-plugin.js'
import { ERRORS, errorBody, HttpError, httpErrorOf, KeygateError, type HttpErrorCode } from '../errors.js'

/** Turns anything a handler throws into a public code (by the code's table entry); only safe messages are kept. */
export function toHttpError (error: unknown): HttpError {
  if (error instanceof KeygateError) return httpErrorOf(error)
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

export function sendError (reply: FastifyReply, code: HttpErrorCode, message?: string): FastifyReply {
  return reply
    .code(ERRORS[code].status)
    .header('content-type', 'application/json; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(errorBody(code, message))
}

/** Errors before a request exists (oversized headers, garbage, timeouts), answered in the same JSON shape. */
export function clientErrorHandler (error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const code: HttpErrorCode = error.code === 'HPE_HEADER_OVERFLOW'
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
