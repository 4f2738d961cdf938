import { randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../../src/cli/main.js'
import { createTestDatabase } from '../helpers/databases.js'
import { missing } from '../helpers/requires.js'
import { tempDir } from '../helpers/temp.js'

function io (env: NodeJS.ProcessEnv = {}): { stdout: { write(s: string): void }, stderr: { write(s: string): void }, env: NodeJS.ProcessEnv, out: () => string, err: () => string } {
  let out = ''
  let err = ''
  return { stdout: { write (s) { out += s } }, stderr: { write (s) { err += s } }, env, out: () => out, err: () => err }
}

t.test('keygate signing-key on the embedded store', async (t) => {
  // Not t.testdir(): PGlite may still be finishing writes in its folder when tap would remove it.
  const dir = tempDir(t, 'cli')
  const dataDir = join(dir, 'state', 'data')
  const run = async (...argv: string[]): Promise<{ code: number, out: string, err: string }> => {
    const streams = io()
    const code = await main(['signing-key', ...argv, '--data-dir', dataDir], streams)
    return { code, out: streams.out(), err: streams.err() }
  }

  t.equal(await main(['migrate', '--data-dir', dataDir], io()), 0)
  t.match(await run('list'), { code: 0, out: /no signing keys yet/ })
  const first = await run('rotate', '--json')
  t.equal(first.code, 0)
  const made = JSON.parse(first.out)
  t.match(made, { rotated: true, kid: /^sig_/, state: 'active', alg: 'EdDSA', crv: 'Ed25519' })
  t.equal((await stat(join(dir, 'state', 'signing.key'))).mode & 0o777, 0o600, 'the key file was made beside the data folder')

  t.match(await run('rotate'), { code: 0, out: /^new signing key sig_\w+; the previous one verifies its tokens until they expire\n$/ })
  const listed = JSON.parse((await run('list', '--json')).out)
  t.match(listed, [{ state: 'active' }, { kid: made.kid, state: 'retired' }])
  t.notMatch(JSON.stringify(listed), /"(d|x|private\w*)"/, 'no key material in the listing')
  t.match((await run('list')).out, new RegExp(`^KID\\s+STATE\\s+CREATED\\s+RETIRED\\s+PUBLISHED UNTIL\\n(sig_\\w+\\s+active.*\\n)${made.kid as string}\\s+retired`))

  t.same(JSON.parse((await run('rotate', '--if-older-than', '30', '--json')).out), { rotated: false })
  t.match(await run('rotate', '--if-older-than', '30'), { code: 0, out: /younger than 30 days: nothing to do/ })
  t.equal(JSON.parse((await run('list', '--json')).out).length, 2, 'nothing rotated')
})

t.test('bad usage exits 2 with the usage text', async (t) => {
  for (const argv of [[], ['frob'], ['list', 'extra'], ['rotate', '--if-older-than', 'soon'], ['rotate', '--if-older-than', '0'],
    ['list', '--if-older-than', '3'], ['rotate', '--bogus']]) {
    const streams = io()
    t.equal(await main(['signing-key', ...argv], streams), 2, JSON.stringify(argv))
    t.match(streams.err() + streams.out(), /add --help for usage|Usage: keygate signing-key/)
  }
  const streams = io()
  t.equal(await main(['signing-key', '--help'], streams), 0)
  t.match(streams.out(), /^Usage: keygate signing-key[\s\S]*rotate \[options\]/)
})

t.test('keygate signing-key on PostgreSQL needs the shared secret', async (t) => {
  if (missing(t, 'postgres')) return
  const url = await createTestDatabase(t)
  const without = io()
  t.equal(await main(['signing-key', 'rotate', '--database-url', url], without), 1)
  t.match(without.err(), /KEYGATE_SIGNING_SECRET is required with KEYGATE_DATABASE_URL/)
  const secret = randomBytes(32).toString('base64')
  const withSecret = io({ KEYGATE_SIGNING_SECRET: secret })
  t.equal(await main(['signing-key', 'rotate', '--json', '--database-url', url], withSecret), 0)
  t.notOk(withSecret.out().includes(secret) || withSecret.err().includes(secret), 'the secret is never printed')
  const listing = io()
  t.equal(await main(['signing-key', 'list', '--json', '--database-url', url], listing), 0, 'listing needs no secret')
  t.equal(JSON.parse(listing.out()).length, 1)
})
