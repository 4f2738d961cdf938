import t from 'tap'
import Fastify from 'fastify'
import { ConflictError, InvalidInputError, NotFoundError } from '../../src/manage/errors.js'
import { PolicyFault } from '../../src/policy/errors.js'
import { errorHandler, toHttpError } from '../../src/server/error-handler.js'
import { HttpError } from '../../src/errors.js'
import { InvalidSessionRequestError, SessionConfigError, SessionNotFoundError, SessionUserNotFoundError } from '../../src/sessions/errors.js'
import { ConfigError } from '../../src/config/load.js'
import { InvalidCursorError, InvalidValueError, StoreConflictError, StoreNotFoundError, StoreUnavailableError } from '../../src/store/errors.js'

t.test('errors of every layer map onto the catalogue', async (t) => {
  const cases: Array<[unknown, string, string | null]> = [
    [new HttpError('NOT_AUTHORIZED'), 'NOT_AUTHORIZED', 'Not authorized'],
    [new InvalidInputError('email must be an e-mail address'), 'INVALID_REQUEST', 'email must be an e-mail address'],
    [new InvalidCursorError('malformed cursor'), 'INVALID_REQUEST', 'malformed cursor'],
    [new InvalidValueError('value refused: new row for relation "keygate_users" violates check constraint'), 'INVALID_REQUEST', 'Invalid request'],
    [new NotFoundError('no such key'), 'NOT_FOUND', 'Not found'],
    [new StoreNotFoundError('parent account usr_x does not exist'), 'NOT_FOUND', 'Not found'],
    [new ConflictError('taken'), 'CONFLICT', 'taken'],
    [new StoreConflictError('another account under the same parent already uses this e-mail address'), 'CONFLICT', null],
    [new StoreUnavailableError('connection refused'), 'SERVICE_UNAVAILABLE', 'Service unavailable'],
    [new PolicyFault('opa_abort'), 'SERVICE_UNAVAILABLE', 'Service unavailable'],
    [new InvalidSessionRequestError('durationInSeconds must be at most 86400'), 'INVALID_REQUEST', 'durationInSeconds must be at most 86400'],
    [new SessionUserNotFoundError('no such user'), 'NOT_FOUND', 'Not found'],
    [new SessionNotFoundError('no such session'), 'NOT_FOUND', 'Not found'],
    [new SessionConfigError('KEYGATE_SIGNING_SECRET does not open signing key sk_1'), 'INTERNAL_ERROR', 'Internal error'],
    [new ConfigError(['KEYGATE_PORT: not a port']), 'INTERNAL_ERROR', 'Internal error'],
    [Object.assign(new Error('body must be object'), { validation: [], statusCode: 400 }), 'INVALID_REQUEST', 'body must be object'],
    [Object.assign(new Error('too big'), { statusCode: 413 }), 'PAYLOAD_TOO_LARGE', 'Request body too large'],
    [Object.assign(new Error('no parser'), { statusCode: 415 }), 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type'],
    [new TypeError('Cannot read properties of undefined (reading \'id\')'), 'INTERNAL_ERROR', 'Internal error'],
    ['a thrown string', 'INTERNAL_ERROR', 'Internal error']
  ]
  for (const [error, code, message] of cases) {
    const mapped = toHttpError(error)
    t.equal(mapped.code, code, String(error))
    if (message !== null) t.equal(mapped.message, message, String(error))
  }
})

t.test('a bug is a 500 that shows nothing of it, and is logged', async (t) => {
  const logged: unknown[] = []
  const app = Fastify()
  app.setErrorHandler(errorHandler)
  app.get('/bug', async () => { throw new TypeError('secret internals') })
  app.addHook('onRequest', async (request) => { request.log.error = (obj: unknown) => { logged.push(obj) } })
  const res = await app.inject({ url: '/bug' })
  t.equal(res.statusCode, 500)
  t.equal(res.body, '{"message":"Internal error","code":"INTERNAL_ERROR"}')
  t.match(logged, [{ err: { message: 'secret internals' } }])
})
