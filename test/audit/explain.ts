/** `policy explain` names the line of the rule in the author's file, not in the bundle's reformatted copy. */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { extract } from 'tar-stream'
import { RuleIndex } from '../../src/audit/explain.js'
import { DEFAULT_BUNDLE_PATH } from '../../src/policy/engine.js'
import { builtBundle, withRevision } from '../helpers/bundles.js'

const AUTHZ = 'policies/keygate/authz/authz.rego'
const DATA = 'policies/keygate/data.json'
const HEAD = /^impersonation_reasons contains \{"code": "impersonation_not_parent"/

/** 1-based number of the first line of `text` that matches. */
function lineOf (text: string, pattern: RegExp): number {
  const index = text.split('\n').findIndex((line) => pattern.test(line))
  if (index === -1) throw new Error(`no line matches ${String(pattern)}`)
  return index + 1
}

/** A file's text inside a tar.gz bundle. */
async function bundleFile (bundle: Buffer, name: string): Promise<string> {
  const reader = extract()
  Readable.from([gunzipSync(bundle)]).pipe(reader)
  let found: string | undefined
  for await (const entry of reader) {
    const chunks: Buffer[] = []
    for await (const chunk of entry) chunks.push(chunk as Buffer)
    if (entry.header.name.replace(/^\/+/, '') === name) found = Buffer.concat(chunks).toString('utf8')
  }
  if (found === undefined) throw new Error(`${name} is not in the bundle`)
  return found
}

t.test('the bundle built from policies/: locations are lines of the author\'s files', async (t) => {
  const index = await RuleIndex.fromBundle(DEFAULT_BUNDLE_PATH)
  t.equal(index.sources, 'author')
  const authored = readFileSync(AUTHZ, 'utf8')
  t.same(index.locate('impersonation_not_parent'), { rule: 'impersonation_reasons', location: `${AUTHZ}:${lineOf(authored, HEAD)}` })
  const copy = await bundleFile(builtBundle(), AUTHZ)
  t.not(lineOf(copy, HEAD), lineOf(authored, HEAD), 'opa build moved the rule, so the check can tell the two apart')
  t.same(index.locate('account_suspended'), {
    rule: 'denials (data.keygate.restrictions)',
    location: `${DATA}:${lineOf(readFileSync(DATA, 'utf8'), /"reason": "account_suspended"/)}`
  }, 'reasons in data too')
})

t.test('a bundle of another revision: the bundle\'s copy, and it says so', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'bundle.tar.gz')
  const bundle = await withRevision(builtBundle(), 'elsewhere')
  writeFileSync(path, bundle)
  const index = await RuleIndex.fromBundle(path)
  t.equal(index.sources, 'bundle')
  t.equal(index.revision, 'elsewhere')
  t.equal(index.locate('impersonation_not_parent')?.location, `${AUTHZ}:${lineOf(await bundleFile(bundle, AUTHZ), HEAD)}`)
})

t.test('sources under another root that are not the bundle\'s: the bundle\'s copy', async (t) => {
  const root = t.testdir({ policies: { keygate: { authz: { 'authz.rego': 'package keygate.authz\n' } } } })
  const index = await RuleIndex.fromBundle(DEFAULT_BUNDLE_PATH, { root })
  t.equal(index.sources, 'bundle')
  t.ok(index.locate('impersonation_not_parent'), 'still found, in the bundle')
})

t.test('an unreadable bundle: an empty index', async (t) => {
  const index = await RuleIndex.fromBundle(join(t.testdir(), 'missing.tar.gz'))
  t.equal(index.sources, null)
  t.equal(index.locate('impersonation_not_parent'), null)
})
