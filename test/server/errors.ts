import { readFileSync } from 'node:fs'
import t from 'tap'
import { ERRORS, errorBody, HttpError } from '../../src/server/errors.js'

const page = readFileSync(new URL('../../docs/server.md', import.meta.url), 'utf8')
const section = page.split(/^## Errors$/m)[1]?.split(/^## /m)[0] ?? ''
const documented = new Map([...section.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]))

t.test('every error code is documented in docs/server.md, with its status', async (t) => {
  t.ok(documented.size > 0, 'docs/server.md has an Errors table')
  for (const [code, { status }] of Object.entries(ERRORS)) t.equal(documented.get(code), status, code)
  t.same([...documented.keys()].sort(), Object.keys(ERRORS).sort(), 'and nothing else is')
})

t.test('HttpError takes status and default message from the catalogue', async (t) => {
  const error = new HttpError('CONFLICT')
  t.match(error, { code: 'CONFLICT', status: 409, message: 'Conflict' })
  t.equal(new HttpError('INVALID_REQUEST', 'body/x must be integer').message, 'body/x must be integer')
  t.equal(errorBody('NOT_FOUND'), '{"message":"Not found","code":"NOT_FOUND"}')
})
