import { createLocalJWKSet, jwtVerify } from 'jose'
import t from 'tap'
import { SESSION_TOKEN_TYPE } from '../../src/sessions/index.js'
import { forEachDatabase } from '../helpers/databases.js'
import { newSessions, newUser, partsOf, spy, TestClock } from '../helpers/sessions.js'
import { until } from '../helpers/until.js'

const DAY = 86_400_000

t.test('the JWKS holds public parts only, and verifies tokens with any JOSE library', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const { token } = await sessions.mint({ userId: await newUser(store) })
  const jwks = await sessions.jwks()
  t.equal(jwks.keys.length, 1)
  const [jwk] = jwks.keys
  t.same(Object.keys(jwk ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
  t.match(jwk, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: partsOf(token).header.kid, x: /^[A-Za-z0-9_-]{43}$/ })
  t.notMatch(JSON.stringify(jwks), /"d"/, 'no private part')

  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: ['EdDSA'], issuer: 'keygate', audience: 'keygate', typ: SESSION_TOKEN_TYPE, currentDate: new Date(clock.now)
  })
  t.equal(payload.jti, partsOf(token).payload.jti)

  const { rows } = await db.query<{ private_sealed: Buffer }>('SELECT private_sealed FROM keygate_signing_keys')
  const sealed = Buffer.from(rows[0]?.private_sealed ?? [])
  t.notOk(sealed.includes(Buffer.from(jwk?.x ?? '', 'base64url')), 'the stored private part is sealed, not in clear')
}))

t.test('rotation: old tokens live until they expire, new tokens use the new key, the old key leaves the JWKS', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock, { maxDurationSeconds: 3600 })
  const userId = await newUser(store)
  const old = await sessions.mint({ userId, durationInSeconds: 3600 })
  const oldKid = partsOf(old.token).header.kid

  clock.advance(60_000)
  const rotated = await sessions.rotate()
  t.not(rotated.kid, oldKid)
  t.equal(rotated.state, 'active')
  const fresh = await sessions.mint({ userId })
  t.equal(partsOf(fresh.token).header.kid, rotated.kid, 'new tokens are signed by the new key')
  t.ok((await sessions.check(old.token)).ok, 'tokens of the retired key still verify')
  t.same((await sessions.jwks()).keys.map((k) => k.kid), [rotated.kid, oldKid], 'both keys published, the active one first')

  const keys = await sessions.listSigningKeys()
  t.match(keys, [{ kid: rotated.kid, state: 'active', retiredAt: null }, { kid: oldKid, state: 'retired' }])
  // Retired at +60 s: published until its last possible token (minted then, 3600 s) has expired, plus the 5 s tolerance.
  t.equal(keys[1]?.publishUntil?.getTime(), clock.now + 3_605_000)
  const { rows } = await db.query<{ private_sealed: Buffer | null }>('SELECT private_sealed FROM keygate_signing_keys WHERE kid = $1', [oldKid])
  t.equal(rows[0]?.private_sealed, null, 'the retired private key is erased')

  clock.advance(3_605_000 - 1)
  t.equal((await sessions.jwks()).keys.length, 2, 'still published a moment before')
  clock.advance(1)
  t.same((await sessions.jwks()).keys.map((k) => k.kid), [rotated.kid], 'gone once every token it signed has expired')
  t.same(await sessions.check(old.token), { ok: false, reason: 'kid_unknown' })
  t.match(await sessions.listSigningKeys(), [{ state: 'active' }, { kid: oldKid, state: 'expired' }])
}))

t.test('a retired key stays published for tokens minted under a longer maximum', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const generous = newSessions(db, clock, { maxDurationSeconds: 7200 })
  const { token } = await generous.mint({ userId: await newUser(store), durationInSeconds: 7200 })
  const strict = newSessions(db, clock, { maxDurationSeconds: 600 })
  await strict.rotate()
  const retired = (await strict.listSigningKeys())[1]
  t.equal(retired?.publishUntil?.getTime(), clock.now + 7_205_000, 'the latest expiry among its sessions, plus tolerance')
  clock.advance(3_600_000)
  t.ok((await generous.check(token)).ok, 'an hour later the long token still verifies')
}))

t.test('scheduled rotation rotates only keys older than the limit', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const first = await sessions.rotateIfOlderThan(7 * 86_400)
  t.ok(first, 'with no key, one is made')
  t.equal(await sessions.rotateIfOlderThan(7 * 86_400), null, 'a fresh key is kept')
  clock.advance(7 * DAY - 1)
  t.equal(await sessions.rotateIfOlderThan(7 * 86_400), null, 'not yet 7 days old')
  clock.advance(1)
  const second = await sessions.rotateIfOlderThan(7 * 86_400)
  t.not(second?.kid, first?.kid, 'rotated at 7 days')
  const { token } = await sessions.mint({ userId: await newUser(store) })
  t.equal(partsOf(token).header.kid, second?.kid)

  t.throws(() => { sessions.scheduleRotation(0) }, TypeError)
  clock.advance(8 * DAY)
  let failures = 0
  sessions.scheduleRotation(7 * 86_400, { checkEveryMs: 1000, onError: () => { failures++ } })
  t.throws(() => { sessions.scheduleRotation(7 * 86_400) }, TypeError, 'one schedule per object')
  const deadline = Date.now() + 3000
  while ((await sessions.listSigningKeys()).length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  await sessions.close()
  t.equal((await sessions.listSigningKeys()).length, 3, 'the schedule checked at once and rotated the 8-day-old key')
  t.equal(failures, 0)
}))

t.test('concurrent rotations leave exactly one active key', (t) => forEachDatabase(t, async (t, db) => {
  const clock = new TestClock()
  const a = newSessions(db, clock)
  const b = newSessions(db, clock)
  await Promise.all([a.rotate(), b.rotate(), a.rotate(), b.rotate()])
  const keys = await a.listSigningKeys()
  t.equal(keys.length, 4)
  t.equal(keys.filter((k) => k.state === 'active').length, 1)
}))

t.test('another instance learns of a rotation: by notification, or on an unknown kid', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const userId = await newUser(store)
  const minter = newSessions(db, clock)
  const listening = newSessions(db, clock)
  const deaf = newSessions(db, clock)
  await listening.listen()
  t.teardown(async () => { await listening.close() })
  const oldKid = partsOf((await minter.mint({ userId })).token).header.kid
  t.same((await listening.jwks()).keys.length, 1, 'key set loaded')
  t.same((await deaf.jwks()).keys.length, 1, 'key set loaded')

  let heard = false
  listening.onInvalidate(() => { heard = true })
  const rotated = await minter.rotate()
  const { token } = await minter.mint({ userId })
  await until(() => heard)
  // jwks() re-reads the store only after a notification (or keyRefreshMs, 60 s), never on an unknown kid.
  t.same((await listening.jwks()).keys.map((k) => k.kid), [rotated.kid, oldKid], 'the listening instance reloaded on the notification')
  t.ok((await listening.check(token)).ok, 'and verifies the new token')

  t.same((await deaf.jwks()).keys.map((k) => k.kid), [oldKid], 'the other has not heard of the rotation')
  // An unknown kid re-reads the key set at most once a second (UNKNOWN_KID_REFRESH_MS).
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.ok((await deaf.check(token)).ok, 'the other reloads on the unknown kid')
}))

t.test('a flood of unknown kids costs at most one store query a second', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const { token } = await sessions.mint({ userId: await newUser(store) })
  const { header, payload, signature } = partsOf(token)
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const spies = spy(t, db)
  for (let i = 0; i < 200; i++) {
    const kid = `sig_${String(i).padStart(20, '0')}`
    t.equal((await sessions.check(`${b64({ ...header, kid })}.${b64(payload)}.${signature}`)).ok, false)
  }
  t.ok(spies.queries <= 2, `store queries for 200 forged kids: ${spies.queries}`)
  t.equal(spies.verifications, 0, 'and no signature check')
}))

t.test('an instance that missed a rotation never signs with the retired key', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const userId = await newUser(store)
  const stale = newSessions(db, clock)
  await stale.mint({ userId })
  const rotated = await newSessions(db, clock).rotate()
  const { token } = await stale.mint({ userId })
  t.equal(partsOf(token).header.kid, rotated.kid, 'the insert under the retired key was refused, and the mint retried with the new key')
  t.ok((await stale.check(token)).ok)
}))
