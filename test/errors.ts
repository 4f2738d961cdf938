import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ERRORS, errorBody, HTTP_ERROR_CODES, HttpError, httpErrorOf, isKeygateErrorCode, KeygateError } from '../src/errors.js'
import { NotFoundError } from '../src/manage/errors.js'
import { StoreConflictError } from '../src/store/errors.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function files (dir: string, ext: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory()
    ? files(join(dir, e.name), ext)
    : e.name.endsWith(ext) ? [join(dir, e.name)] : [])
}

/** Rows `| \`CODE\` | status |` of every "Errors" section of the README and docs/. */
function documentedCodes (): Map<string, number> {
  const documented = new Map<string, number>()
  for (const file of [join(ROOT, 'README.md'), ...files(join(ROOT, 'docs'), '.md')]) {
    const text = readFileSync(file, 'utf8')
    for (const heading of text.matchAll(/^(#+) Errors\b.*$/gm)) {
      const rest = text.slice(heading.index + heading[0].length)
      const next = rest.search(new RegExp(`^#{1,${heading[1]?.length ?? 1}} `, 'm'))
      const section = next < 0 ? rest : rest.slice(0, next)
      for (const m of section.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) documented.set(m[1] as string, Number(m[2]))
    }
  }
  return documented
}

t.test('every public error code is documented (README or docs/), with its status, and nothing else is', async (t) => {
  const documented = documentedCodes()
  t.ok(documented.size > 0, 'there is an Errors table')
  for (const code of HTTP_ERROR_CODES) t.equal(documented.get(code), ERRORS[code].status, code)
  t.same([...documented.keys()].sort(), [...HTTP_ERROR_CODES].sort(), 'and nothing else is')
})

t.test('every code has an HTTP status, and each status an answer', async (t) => {
  const answered = new Map(HTTP_ERROR_CODES.map((code) => [ERRORS[code].status, code]))
  t.equal(answered.size, HTTP_ERROR_CODES.length, 'no two public codes share a status')
  for (const [code, entry] of Object.entries(ERRORS)) {
    t.ok(Number.isInteger(entry.status) && entry.status >= 400 && entry.status < 600, `${code} has an error status`)
    t.ok(answered.has(entry.status), `${code}: its status ${entry.status} has a public code`)
  }
})

/** `class Name extends Base {…}` of src/, with the code it declares, if any. */
function errorClasses (): Array<{ name: string, base: string, abstract: boolean, code: string | null, file: string }> {
  const found: Array<{ name: string, base: string, abstract: boolean, code: string | null, file: string }> = []
  for (const file of files(join(ROOT, 'src'), '.ts')) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/^export (abstract )?class (\w+) extends (\w+) \{([\s\S]*?)^\}/gm)) {
      const code = /static override code: KeygateErrorCode = '([A-Z_]+)'/.exec(m[4] ?? '')?.[1] ?? null
      found.push({ name: m[2] as string, base: m[3] as string, abstract: m[1] !== undefined, code, file })
    }
  }
  return found
}

t.test('every coded error class of src/ declares a code of its own, in the table', async (t) => {
  const classes = errorClasses()
  const coded = new Set(['KeygateError'])
  // Bases before subclasses: follow `extends` until nothing new joins.
  for (let grew = true; grew;) {
    grew = false
    for (const c of classes) if (coded.has(c.base) && !coded.has(c.name)) { coded.add(c.name); grew = true }
  }
  const tree = classes.filter((c) => coded.has(c.name))
  t.ok(tree.length >= 15, `src/ was read (${tree.length} classes)`)
  const owner = new Map<string, string>()
  for (const c of tree) {
    // HttpError and OperationError take their code as an argument.
    if (c.abstract || c.name === 'HttpError' || c.name === 'OperationError') continue
    if (c.code === null) { t.fail(`${c.name} declares no static code`); continue }
    t.ok(isKeygateErrorCode(c.code), `${c.name}: ${c.code} is in ERRORS`)
    t.notOk(owner.has(c.code), `${c.code} is only ${c.name}'s`, { other: owner.get(c.code) })
    owner.set(c.code, c.name)
  }
  for (const name of ['HttpError', 'ConfigError', 'OperationError', 'PolicyFault', 'StoreError', 'SessionError', 'ManageError']) {
    t.ok(coded.has(name), `${name} is in the tree`)
  }
})

t.test('HttpError takes status and default message from the table', async (t) => {
  const error = new HttpError('CONFLICT')
  t.ok(error instanceof KeygateError)
  t.match(error, { name: 'HttpError', code: 'CONFLICT', status: 409, message: 'Conflict' })
  t.equal(new HttpError('INVALID_REQUEST', 'body/x must be integer').message, 'body/x must be integer')
  t.equal(errorBody('NOT_FOUND'), '{"message":"Not found","code":"NOT_FOUND"}')
})

t.test('an internal code is answered with the public code of its status, its message only if exposed', async (t) => {
  t.match(httpErrorOf(new StoreConflictError('another account uses it')), { code: 'CONFLICT', status: 409, message: 'another account uses it' })
  t.match(httpErrorOf(new NotFoundError('no such parent account')), { code: 'NOT_FOUND', message: 'Not found' })
  t.match(httpErrorOf(new HttpError('NOT_FOUND', 'usr_x belongs to another parent')), { code: 'NOT_FOUND', message: 'Not found' })
  const given = new HttpError('INVALID_REQUEST', 'since must be a date')
  t.equal(httpErrorOf(given), given, 'a public error is its own answer')
})
