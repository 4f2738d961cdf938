/**
 * Forged, altered and malformed session tokens (RFC 8725). Every case is
 * refused by the verifier (null, for the stated reason) and by the authorizer
 * (401, never 5xx). Tokens that only differ from a valid one by the attack are
 * signed with the real signing key, so that each refusal comes from the check
 * under test and not from a broken signature; a re-signed unaltered token is
 * the control that proves the signing helper makes valid tokens.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto'
import { exportJWK, exportSPKI, generateKeyPair, importJWK } from 'jose'
import t from 'tap'
import { createAuthorizer } from '../../src/authorizer/index.js'
import { PolicyEngine } from '../../src/policy/engine.js'
import type { TokenRejection } from '../../src/sessions/index.js'
import { forEachDatabase } from '../helpers/databases.js'
import { activeSigningKey, b64, newSessions, newUser, partsOf, signRaw, spy, TestClock } from '../helpers/sessions.js'

interface Attack {
  name: string
  token: string
  reason: TokenRejection
}

/** Refused before any key lookup, store query or signature check. */
const PRE_CRYPTO: ReadonlySet<TokenRejection> = new Set([
  'too_long', 'malformed', 'header_invalid', 'header_parameter_forbidden', 'alg_not_allowed', 'typ_not_allowed', 'kid_invalid'
])

const policy = await PolicyEngine.fromBundle()

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** The last character of a 64-byte value carries 2 bits and 4 zero bits: set one of those, and lenient decoders see the same bytes. */
function strayBits (last: string): string {
  return BASE64URL[BASE64URL.indexOf(last) | 1] as string
}

t.test('attack suite', (t) => forEachDatabase(t, async (t, db, store) => {
  const clock = new TestClock()
  const sessions = newSessions(db, clock)
  const authorizer = await createAuthorizer({ store, policy, sessions, clock: clock.read })
  const userId = await newUser(store)
  const childId = await newUser(store, userId)
  const legit = await sessions.mint({ userId, durationInSeconds: 3600 })
  const { kid, x, key } = await activeSigningKey(db)
  const { header, payload, signature } = partsOf(legit.token)
  const now = clock.seconds
  const sign = async (h: unknown, p: unknown): Promise<string> => await signRaw(key, h, p)
  const withHeader = (h: unknown): string => `${b64(h)}.${legit.token.split('.')[1] as string}.${signature}`
  const hmac = (hash: 'sha256' | 'sha512', h: unknown, secret: string | Buffer): string => {
    const input = `${b64(h)}.${b64(payload)}`
    return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
  }
  const { publicKey: attackerPublic, privateKey: attackerKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const ourPublic = await importJWK({ kty: 'OKP', crv: 'Ed25519', x }, 'EdDSA', { extractable: true }) as CryptoKey
  const publicForms: Array<[string, string | Buffer]> = [
    ['PEM', await exportSPKI(ourPublic)],
    ['JWK JSON', JSON.stringify((await sessions.jwks()).keys[0])],
    ['raw bytes', Buffer.from(x, 'base64url')]
  ]
  const certificateLike = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64')

  // Controls: the helpers make tokens the verifier accepts.
  t.ok((await sessions.check(legit.token)).ok, 'control: the minted token')
  t.ok((await sessions.check(await sign(header, payload))).ok, 'control: the same header and claims, re-signed by the test')
  t.ok((await sessions.check(await sign(header, { ...payload, iat: now + 3 }))).ok, 'control: iat 3 s ahead is within the 5 s tolerance')

  const attacks: Attack[] = []
  const add = (name: string, token: string, reason: TokenRejection): void => { attacks.push({ name, token, reason }) }

  for (const alg of ['none', 'None', 'nOnE', 'NONE']) {
    add(`alg ${alg}, empty signature`, `${b64({ ...header, alg })}.${b64(payload)}.`, 'malformed')
    add(`alg ${alg}, the original signature kept`, withHeader({ ...header, alg }), 'alg_not_allowed')
  }
  for (const [form, secret] of publicForms) {
    add(`HS256 MACed with the public key (${form})`, hmac('sha256', { ...header, alg: 'HS256' }, secret), 'malformed')
    add(`HS512 MACed with the public key (${form})`, hmac('sha512', { ...header, alg: 'HS512' }, secret), 'alg_not_allowed')
  }
  for (const alg of ['HS256', 'ES256', 'RS256', 'PS256', 'ES256K', 'Ed25519', 'Ed448', 'eddsa', 'EdDSA ', 'EDDSA']) {
    add(`valid signature, alg swapped to ${JSON.stringify(alg)}`, withHeader({ ...header, alg }), 'alg_not_allowed')
  }
  add('alg missing', withHeader({ typ: header.typ, kid }), 'alg_not_allowed')
  add('signed by another Ed25519 key under our kid', await signRaw(attackerKey, header, payload), 'signature_invalid')
  add('the signature of another token', `${legit.token.split('.').slice(0, 2).join('.')}.${(await sessions.mint({ userId })).token.split('.')[2] as string}`, 'signature_invalid')
  add('a claim changed after signing', `${legit.token.split('.')[0] as string}.${b64({ ...payload, sub: 'usr_00000000000000000000' })}.${signature}`, 'signature_invalid')

  for (const badKid of ['../../etc/passwd', '\' OR 1=1 --', 'http://evil/', 'https://evil.example/jwks.json', 'sig_AAAAAAAAAAAAAAAAAAAA/../x', '', 42, null]) {
    add(`kid ${JSON.stringify(badKid)}`, await sign({ ...header, kid: badKid }, payload), 'kid_invalid')
  }
  add('kid missing', await sign({ alg: 'EdDSA', typ: header.typ }, payload), 'kid_invalid')
  add('kid of 10 KB', await sign({ ...header, kid: 'sig_' + 'A'.repeat(10 * 1024) }, payload), 'too_long')
  add('a well-formed kid that is not ours', await sign({ ...header, kid: 'sig_ZZZZZZZZZZZZZZZZZZZZ' }, payload), 'kid_unknown')

  const attackerJwk = await exportJWK(attackerPublic)
  add('jku header', await sign({ ...header, jku: 'http://127.0.0.1:1/jwks.json' }, payload), 'header_parameter_forbidden')
  add('x5u header', await sign({ ...header, x5u: 'http://127.0.0.1:1/cert.pem' }, payload), 'header_parameter_forbidden')
  add('jwk header (our own key)', await sign({ ...header, jwk: { kty: 'OKP', crv: 'Ed25519', x } }, payload), 'header_parameter_forbidden')
  add('jwk header (the attacker\'s key, signed by the attacker)', await signRaw(attackerKey, { ...header, jwk: attackerJwk }, payload), 'header_parameter_forbidden')
  add('x5c header', await sign({ ...header, x5c: [certificateLike] }, payload), 'header_parameter_forbidden')
  add('crit ["exp"]', await sign({ ...header, crit: ['exp'], exp: now + 60 }, payload), 'header_parameter_forbidden')
  add('crit []', await sign({ ...header, crit: [] }, payload), 'header_parameter_forbidden')
  add('b64 false', await sign({ ...header, b64: false, crit: ['b64'] }, payload), 'header_parameter_forbidden')
  add('zip header', await sign({ ...header, zip: 'DEF' }, payload), 'header_parameter_forbidden')
  add('__proto__ in the header', await sign(JSON.parse(`{"alg":"EdDSA","typ":"${header.typ as string}","kid":"${kid}","__proto__":{"alg":"none"}}`), payload), 'header_parameter_forbidden')

  add('exp just past the tolerance', await sign(header, { ...payload, iat: now - 100, exp: now - 6 }), 'expired')
  add('exp exactly at the tolerance', await sign(header, { ...payload, iat: now - 100, exp: now - 5 }), 'expired')
  add('exp missing', await sign(header, { ...payload, exp: undefined }), 'claims_invalid')
  add('exp a string', await sign(header, { ...payload, exp: String(now + 600) }), 'claims_invalid')
  add('exp fractional', await sign(header, { ...payload, exp: now + 600.5 }), 'claims_invalid')
  add('exp beyond the maximum lifetime', await sign(header, { ...payload, exp: now + 86_400 * 365 }), 'claims_invalid')
  add('nbf in the future', await sign(header, { ...payload, nbf: now + 60 }), 'claims_invalid')
  add('iat in the future', await sign(header, { ...payload, iat: now + 60 }), 'claims_invalid')
  add('iat missing', await sign(header, { ...payload, iat: undefined }), 'claims_invalid')
  add('iat older than the maximum token age', await sign(header, { ...payload, iat: now - 90_000 }), 'expired')
  add('sub missing', await sign(header, { ...payload, sub: undefined }), 'claims_invalid')
  add('jti missing', await sign(header, { ...payload, jti: undefined }), 'claims_invalid')
  add('jti not a session id', await sign(header, { ...payload, jti: '\' OR 1=1 --' }), 'claims_invalid')
  add('iss wrong', await sign(header, { ...payload, iss: 'https://evil.example' }), 'claims_invalid')
  add('iss missing', await sign(header, { ...payload, iss: undefined }), 'claims_invalid')
  add('aud wrong', await sign(header, { ...payload, aud: 'another-service' }), 'claims_invalid')
  add('aud missing', await sign(header, { ...payload, aud: undefined }), 'claims_invalid')
  add('allowedRoutes not a list', await sign(header, { ...payload, allowedRoutes: 'bot/**' }), 'claims_invalid')
  add('sub of another user, validly signed', await sign(header, { ...payload, sub: await newUser(store) }), 'session_mismatch')
  add('exp extended, validly signed', await sign(header, { ...payload, exp: (payload.exp as number) + 60 }), 'session_mismatch')
  // RFC 8693 act: only {"sub": id}, and only the actor the session row records.
  const delegated = partsOf((await sessions.mint({ userId: childId, actorId: userId, durationInSeconds: 3600 })).token).payload
  add('act added to a session minted without one, validly signed', await sign(header, { ...payload, act: { sub: await newUser(store) } }), 'session_mismatch')
  add('act removed from a session minted with one, validly signed', await sign(header, { ...delegated, act: undefined }), 'session_mismatch')
  add('act naming another actor, validly signed', await sign(header, { ...delegated, act: { sub: await newUser(store) } }), 'session_mismatch')
  add('act a string', await sign(header, { ...delegated, act: userId }), 'claims_invalid')
  add('act without sub', await sign(header, { ...delegated, act: {} }), 'claims_invalid')
  add('act with a nested act (a chain)', await sign(header, { ...delegated, act: { sub: userId, act: { sub: 'usr_00000000000000000000' } } }), 'claims_invalid')
  add('a session id that was never issued', await sign(header, { ...payload, jti: 'ses_ZZZZZZZZZZZZZZZZZZZZ' }), 'session_unknown')

  for (const typ of ['JWT', 'at+jwt', 'application/keygate-session+jwt', 'KEYGATE-SESSION+JWT', 'jwt', '']) {
    add(`typ ${JSON.stringify(typ)}`, await sign({ ...header, typ }, payload), 'typ_not_allowed')
  }
  add('typ missing', await sign({ alg: 'EdDSA', kid }, payload), 'typ_not_allowed')

  add('JWE (five parts)', `${b64({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid })}.${b64('k'.repeat(32))}.${b64('iv')}.${b64('ciphertext')}.${b64('tag')}`, 'malformed')
  add('JWE with dir and our kid', `${b64({ alg: 'dir', enc: 'A256GCM', typ: header.typ, kid })}..${b64('iv')}.${b64('ciphertext')}.${b64('tag')}`, 'malformed')
  add('nested: cty JWT around a valid token', await sign({ ...header, cty: 'JWT' }, legit.token), 'header_parameter_forbidden')
  add('nested: a valid token as the payload', await sign(header, legit.token), 'claims_invalid')
  add('payload a JSON array', await sign(header, [payload]), 'claims_invalid')
  add('header a JSON string', `${b64('"EdDSA"')}.${b64(payload)}.${signature}`, 'header_invalid')
  add('header not JSON', `${b64('{alg:EdDSA}')}.${b64(payload)}.${signature}`, 'header_invalid')

  const [h, p] = legit.token.split('.') as [string, string]
  add('space inside the signature', `${h}.${p}.${signature.slice(0, 40)} ${signature.slice(40)}`, 'malformed')
  add('tab inside the signature', `${h}.${p}.${signature.slice(0, 40)}\t${signature.slice(40)}`, 'malformed')
  add('newline inside the signature', `${h}.${p}.${signature.slice(0, 40)}\n${signature.slice(40)}`, 'malformed')
  add('== padding after the signature', `${legit.token}==`, 'malformed')
  add('= padding after the payload', `${h}.${p}=.${signature}`, 'malformed')
  add('standard base64 characters (+ /)', `${h}.${p}.${signature.slice(0, 40).replace(/./, '+')}/${signature.slice(42)}`, 'malformed')
  add('stray bits in the last signature character', `${h}.${p}.${signature.slice(0, -1)}${strayBits(signature.at(-1) as string)}`, 'malformed')
  add('a fourth part', `${legit.token}.${signature}`, 'malformed')
  add('an empty token', '', 'malformed')
  add('a 15 KB token', `${h}.${b64('x'.repeat(11 * 1024))}.${signature}`, 'too_long')

  const spies = spy(t, db)
  for (const attack of attacks) {
    spies.reset()
    const result = await sessions.check(attack.token)
    t.same(result, { ok: false, reason: attack.reason }, attack.name)
    if (PRE_CRYPTO.has(attack.reason)) {
      t.same({ verifications: spies.verifications, queries: spies.queries }, { verifications: 0, queries: 0 },
        `${attack.name}: refused before any signature check or store query`)
    }
    t.equal(await sessions.verify(attack.token), null, `${attack.name}: verify answers null`)
    const decision = await authorizer.authorize({
      method: 'POST', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${attack.token}` }
    })
    t.equal(decision.status, 401, `${attack.name}: the authorizer answers 401`)
  }
  t.equal(spies.outbound, 0, 'no case made an outbound request')
  t.equal((await authorizer.authorize({ method: 'POST', path: '/api/v1/bot/list', headers: { authorization: `Bearer ${legit.token}` } })).status,
    200, 'control: the minted token is still allowed afterwards')
}))

t.test('verify never throws for any value', (t) => forEachDatabase(t, async (t, db) => {
  const sessions = newSessions(db, new TestClock())
  for (const value of [undefined, null, 42, {}, [], 'a.b.c', 'x'.repeat(100_000)]) {
    t.equal(await sessions.verify(value as string), null, JSON.stringify(value)?.slice(0, 20) ?? 'undefined')
  }
}))
