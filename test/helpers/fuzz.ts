/**
 * Generated requests against a populated store, and the invariants every
 * decision must keep. Used by test/properties/requests.ts (a few thousand
 * requests, with shrinking) and bench/fuzz.ts (100,000 and more, counted).
 *
 * Each generated request carries what the generator knows about it: whether
 * its Authorization header holds one valid credential. The invariants:
 * - no allow without a valid credential;
 * - an invalid credential is a 401, whatever else the request says;
 * - no 5xx and no exception (the store is up);
 * - the same request, asked again, gets the same decision, and the one an
 *   authorizer with neither the decision memo nor the policy's decision cache
 *   makes afresh (`reference`);
 * - an allowed request made with a credential a parent minted for its child
 *   names that parent as the actor;
 * - an X-RunAs-* value with a character outside printable ASCII (Unicode
 *   whitespace, a BOM, a look-alike letter) never acts as anyone: the world's
 *   accounts all have ASCII addresses, and nothing folds onto ASCII;
 * - an allowed request with a method other than GET, HEAD, OPTIONS or POST is
 *   never a read;
 * - a request with an access_token query parameter is never allowed.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { createAuthorizer, type Authorizer, type AuthorizeRequest } from '../../src/authorizer/index.js'
import { generateSecretKey } from '../../src/credentials/secret-key.js'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { DEFAULT_BUNDLE_PATH, PolicyEngine } from '../../src/policy/engine.js'
import { buildApp } from '../../src/server/app.js'
import { createMetrics } from '../../src/server/metrics.js'
import { Sessions } from '../../src/sessions/index.js'
import type { Store } from '../../src/store/index.js'

/** An authorizer and the server in front of it. */
export interface Decider {
  authorizer: Authorizer
  app: FastifyInstance
}

export interface FuzzWorld extends Decider {
  /** Same store and sessions, the memo and the policy's decision cache off: every decision is made afresh. */
  reference: Decider
  /** Valid credentials (their owners active); a request holding one may be allowed. */
  valid: string[]
  /** Credentials that look right and are not: revoked, expired, ended, forged, unknown, owner disabled or deleted. */
  invalid: string[]
  /** The actor of each valid credential a parent minted for its child. */
  actors: Record<string, string>
  /** Account ids and e-mail addresses to aim X-RunAs-* headers at. */
  userIds: string[]
  emails: string[]
  close(): Promise<void>
}

export interface FuzzRequest {
  via: 'authorize' | 'forward-auth' | 'decision-api'
  request: AuthorizeRequest
  /** Exactly one Authorization header holding a valid credential. */
  validCredential: boolean
  /** The actor an allow must name (the credential's minting parent); null when the generator does not know. */
  actor: string | null
}

export type Violation = 'allow_without_valid_credential' | 'invalid_credential_not_401' | 'server_error' | 'crash' | 'nondeterministic' |
  'unauthenticated_names_credential' | 'actor_not_named' | 'lossy_run_as_match' | 'write_method_as_read' | 'two_credential_methods_allowed'

export interface Outcome {
  status: number
  allow: boolean
  violations: Violation[]
}

/**
/**
 * Accounts, keys and sessions of every kind, on `store`, credentials parents
 * minted for their children among them (a restricted parent's are valid
 * credentials that may do nothing as the child; a disabled or former
 * parent's are not credentials at all). `policy` decides for the authorizer
 * under test; the reference loads `referenceBundle` (default: the built
 * bundle, which `policy` should be) with its decision cache off.
 */
export async function fuzzWorld (store: Store, policy: PolicyEngine, referenceBundle = DEFAULT_BUNDLE_PATH): Promise<FuzzWorld> {
  const sessions = new Sessions({ db: store.database, secret: randomBytes(32) })
  const decider = async (options: Partial<Parameters<typeof createAuthorizer>[0]>): Promise<Decider> => {
    const metrics = createMetrics()
    // Generated requests are mostly bad credentials from one address: the throttle is test/limits/'s.
    const authorizer = await createAuthorizer({ store, sessions, policy, throttle: false, onDecision: metrics.observeDecision, ...options })
    const app = buildApp({ authorizer, metrics, sessions })
    await app.ready()
    return { authorizer, app }
  }
  const { authorizer, app } = await decider({})
  const reference = await decider({ policy: await PolicyEngine.fromBundle(referenceBundle, { decisionCache: 0 }), decisionMemo: 0 })

  const account = async (email: string, parentId?: string): Promise<{ id: string; key: string }> => {
    const user = await createAccount(store, { email, parentId })
    return { id: user.id, key: (await issueKey(store, { userId: user.id })).token }
  }
  const parent = await account('parent@example.com')
  const child = await account('child@example.com', parent.id)
  const grandchild = await account('grandchild@example.com', child.id)
  const other = await account('other@example.com')
  const suspended = await account('suspended@example.com')
  await store.addRestriction(suspended.id, 'suspended')
  const kid = await account('kid@example.com', parent.id)
  const readOnly = await account('read-only@example.com', parent.id)
  await store.addRestriction(readOnly.id, 'read-only')
  const scoped = (await issueKey(store, { userId: parent.id, scopes: ['bot:read', 'dataset:write'] })).token
  const parentSession = (await sessions.mint({ userId: parent.id })).token
  const childSession = (await sessions.mint({ userId: child.id, allowedRoutes: ['bot/**'] })).token
  // Credentials a parent minted for its child: valid while the parent may act as the child, not once it may not.
  const minted = async (childId: string, actorId: string): Promise<[string, string]> => [
    (await issueKey(store, { userId: childId, actorId })).token, (await sessions.mint({ userId: childId, actorId })).token
  ]
  const mintedForChild = await minted(child.id, parent.id)
  const mintedForGrandchild = await minted(grandchild.id, child.id)
  const restrictedParent = await account('restricted-parent@example.com')
  const mintedByRestricted = await minted((await account('restricted-child@example.com', restrictedParent.id)).id, restrictedParent.id)
  await store.addRestriction(restrictedParent.id, 'impersonation')
  const disabledParent = await account('disabled-parent@example.com')
  const mintedByDisabled = await minted((await account('disabled-parent-child@example.com', disabledParent.id)).id, disabledParent.id)
  await store.updateUser(disabledParent.id, { disabled: true })
  const formerParent = await account('former-parent@example.com')
  const movedChild = await account('moved-child@example.com', formerParent.id)
  const mintedByFormer = await minted(movedChild.id, formerParent.id)
  await store.database.query('UPDATE keygate_users SET parent_id = $2 WHERE id = $1', [movedChild.id, other.id])

  const disabled = await account('disabled@example.com')
  const disabledSession = (await sessions.mint({ userId: disabled.id })).token
  await store.updateUser(disabled.id, { disabled: true })
  const deleted = await account('deleted@example.com', parent.id)
  await store.deleteUser(deleted.id)
  const revoked = await issueKey(store, { userId: parent.id })
  await store.revokeKey(revoked.id)
  const expired = generateSecretKey()
  await store.createKey({ userId: parent.id, hash: expired.hash, prefix: expired.prefix, expiresAt: new Date(Date.now() - 60_000) })
  const ended = await sessions.mint({ userId: parent.id })
  await sessions.end(ended.id, parent.id)
  const flip = (token: string, at: number): string => token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1)

  return {
    authorizer,
    app,
    actors: Object.fromEntries([
      ...mintedForChild.map((token) => [token, parent.id]),
      ...mintedForGrandchild.map((token) => [token, child.id]),
      ...mintedByRestricted.map((token) => [token, restrictedParent.id])
    ]),
    reference,
    valid: [parent.key, child.key, grandchild.key, other.key, suspended.key, readOnly.key, scoped, parentSession, childSession,
      ...mintedForChild, ...mintedForGrandchild, ...mintedByRestricted],
    invalid: [
      revoked.token, expired.key, disabled.key, deleted.key, disabledSession, ended.token, ...mintedByDisabled, ...mintedByFormer,
      flip(parent.key, 10), generateSecretKey().key, flip(parentSession, parentSession.length - 3), flip(childSession, 20)
    ],
    userIds: [parent.id, child.id, kid.id, grandchild.id, other.id, suspended.id, readOnly.id, disabled.id, deleted.id],
    emails: ['child@example.com', ' CHILD@example.com ', 'kid@example.com', 'KID@example.com', 'read-only@example.com', 'grandchild@example.com',
      'deleted@example.com', 'other@example.com', 'nobody@example.com'],
    async close () {
      for (const d of [{ authorizer, app }, reference]) {
        await d.app.close()
        await d.authorizer.close()
      }
      await sessions.close()
    }
  }
}

const ROUTES = readFileSync(new URL('../../policies/routes.tsv', import.meta.url), 'utf8')
  .split('\n').slice(1).filter((line) => line.trim() !== '').map((line) => line.split('\t')[1] as string)

/** Header values a client can send over HTTP (no control characters). */
const headerText = fc.string({ unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~'.split('')), maxLength: 40 })
const anyText = fc.string({ unit: 'binary', maxLength: 60 })
/** Characters JavaScript's trim() or Unicode case folding would lose or map onto ASCII, and bytes Node reads as latin1 (0xA0, 0x85). */
const ODD = ['\u00a0', '\u0085', '\u3000', '\ufeff', '\u2028', '\u2029', '\u200b', '\u1680', '\u2003', '\u000b', '\u000c', '\u180e']
const odd = fc.constantFrom(...ODD)
/** Look-alikes and case-folding pairs of ASCII letters: Kelvin sign, dotted capital I, dotless i, long s, fullwidth letters. */
const CONFUSABLE: Record<string, string[]> = { k: ['\u212a', '\uff4b'], i: ['\u0130', '\u0131', '\uff49'], s: ['\u017f'], c: ['\u0441', '\u216d'], d: ['\u217e'], e: ['\u0435'], o: ['\u043e'] }
/** `value` with one odd character before, after or inside it. */
function withOdd (value: string): fc.Arbitrary<string> {
  return fc.tuple(odd, fc.nat({ max: value.length })).map(([c, at]) => value.slice(0, at) + c + value.slice(at))
}
/** `value` with one ASCII letter replaced by a look-alike (unchanged if it has none). */
function confusable (value: string): fc.Arbitrary<string> {
  const spots = [...value].flatMap((c, i) => (CONFUSABLE[c.toLowerCase()] ?? []).map((x) => [i, x] as const))
  if (spots.length === 0) return fc.constant(value)
  return fc.constantFrom(...spots).map(([i, x]) => value.slice(0, i) + x + value.slice(i + 1))
}
/** True for a value with a character a client's ASCII header could not hold (other than SP and HTAB). */
export function hasNonAscii (value: string): boolean {
  return /[^\t\x20-\x7e]/.test(value)
}
const PATH_CLASS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'POST'])
/** Header values HTTP can carry (Node reads bytes as latin1). */
const SENDABLE = /^[\t\x20-\x7e\x80-\xff]*$/

export function requestArbitrary (world: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  const scheme = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'BeArEr')
  const spaces = fc.constantFrom(' ', '  ', '   ')
  const pad = fc.constantFrom('', ' ', '\t')
  const bearer = (token: string): fc.Arbitrary<string> =>
    fc.tuple(pad, scheme, spaces, pad).map(([before, s, gap, after]) => `${before}${s}${gap}${token}${after}`)
  const headerName = fc.constantFrom('authorization', 'Authorization', 'AUTHORIZATION')

  type Auth = { headers: Record<string, string | string[]>; valid: boolean; token?: string }
  const auth: fc.Arbitrary<Auth> = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(headerName, fc.constantFrom(...world.valid)).chain(([name, token]) => bearer(token).map((value) => ({ headers: { [name]: value }, valid: true, token }))) },
    { weight: 3, arbitrary: fc.tuple(headerName, fc.constantFrom(...world.invalid).chain(bearer)).map(([name, value]) => ({ headers: { [name]: value }, valid: false })) },
    { weight: 1, arbitrary: fc.constant({ headers: {}, valid: false }) },
    // Two Authorization headers, even the same valid one twice: not authenticated.
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...world.valid), fc.constantFrom(...world.valid, ...world.invalid)).map(([a, b]) => ({ headers: { authorization: [`Bearer ${a}`, `Bearer ${b}`] }, valid: false })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...world.valid), fc.constantFrom('Basic ', 'Token ', 'Bearer', 'Bearer: ', '', 'Bearer sk-', 'Bearer \u0000')).map(([k, p]) => ({ headers: { authorization: `${p}${p.endsWith(' ') || p === '' ? '' : ' '}${k.slice(0, 40)}` }, valid: false })) },
    { weight: 1, arbitrary: fc.oneof(anyText, headerText).map((value) => ({ headers: { authorization: value }, valid: false })) },
    // A valid key cut short, extended, or cased differently: the checksum or the hash refuses it.
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...world.valid), fc.nat({ max: 60 }), fc.constantFrom('cut', 'extend', 'upper')).map(([k, n, how]) => {
        const token = how === 'cut' ? k.slice(0, Math.max(3, n)) : how === 'extend' ? `${k}${'x'.repeat(1 + (n % 5))}` : k.toUpperCase()
        return { headers: { authorization: `Bearer ${token}` }, valid: token === k }
      })
    },
    { weight: 1, arbitrary: fc.nat({ max: 10_000 }).map((n) => ({ headers: { authorization: `Bearer ${'a'.repeat(8_000 + n)}` }, valid: false })) },
    // A valid credential with one odd character around or inside it: only SP and HTAB are OWS.
    { weight: 2, arbitrary: fc.tuple(headerName, fc.constantFrom(...world.valid).chain((k) => withOdd(`Bearer ${k}`))).map(([name, value]) => ({ headers: { [name]: value }, valid: false })) }
  )
  const runAsValue = fc.oneof(fc.constantFrom(...world.userIds), fc.constantFrom(...world.userIds).map((id) => id.toUpperCase()), headerText, anyText,
    fc.constantFrom(...world.userIds).chain(withOdd))
  const emailValue = fc.oneof(fc.constantFrom(...world.emails), fc.emailAddress(), headerText,
    fc.constantFrom(...world.emails).chain(withOdd), fc.constantFrom(...world.emails).chain(confusable))
  const runAs = fc.array(fc.oneof(
    fc.tuple(fc.constantFrom('x-runas-user-id', 'X-RunAs-User-ID', 'x-runas-userid'), runAsValue),
    fc.tuple(fc.constantFrom('x-runas-child-user-email', 'X-RunAs-Child-User-Email'), emailValue),
    fc.tuple(fc.constantFrom('x-runas-user-id', 'x-runas-child-user-email'), fc.array(fc.oneof(runAsValue, emailValue), { minLength: 0, maxLength: 3 }))
  ), { maxLength: 3 })
  const extra = fc.dictionary(fc.constantFrom('x-forwarded-proto', 'cookie', 'x-api-key', 'user-agent', 'x-request-id', 'content-type'), headerText, { maxKeys: 3 })
  const segment = fc.oneof(fc.constantFrom('bot_123', 'usr_x', '..', '.', '%2e%2e', '', 'list', 'create', 'delete', 'DELETE', 'ünïcode', '%00'), headerText.map((s) => encodeURIComponent(s)))
  const path = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...ROUTES), segment).map(([route, id]) => route.replace(/\{[^}]+\}/g, id === '' ? 'x' : id)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...ROUTES), fc.constantFrom('?a=1', '#frag', '/', '//', '?x=/admin/v1/user/create', '?access_token=x', '?a=1&access%5Ftoken=', '#access_token=x')).map(([route, tail]) => route.replace(/\{[^}]+\}/g, 'id_1') + tail) },
    { weight: 1, arbitrary: fc.array(segment, { maxLength: 6 }).map((segments) => `/${segments.join('/')}`) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/admin/v1/', '/v1/', '/api/v1/', '/API/V1/', '/api/v2/', '/.well-known/'), fc.array(segment, { maxLength: 4 })).map(([p, s]) => p + s.join('/')) }
  )
  const method = fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'get', 'post', 'delete', 'PROPFIND', 'PURGE', 'TRACE', 'CONNECT'), fc.stringMatching(/^[A-Za-z]{1,10}$/))

  return fc.record({
    via: fc.constantFrom('authorize', 'authorize', 'authorize', 'forward-auth', 'decision-api'),
    auth,
    runAs,
    extra,
    path,
    method,
    scheme: fc.constantFrom('http', 'https', undefined)
  }).map(({ via, auth, runAs, extra, path, method, scheme }) => {
    const headers: Record<string, string | string[]> = { ...extra }
    for (const [name, value] of runAs) headers[name] = value
    // Mixed-case duplicates of Authorization are merged into two values by Keygate: not one valid credential.
    Object.assign(headers, auth.headers)
    const request: AuthorizeRequest = { method, path, headers, ...(scheme === undefined ? {} : { scheme: scheme as 'http' | 'https' }) }
    const actor = auth.token === undefined ? null : world.actors[auth.token] ?? null
    return { via: via as FuzzRequest['via'], request, validCredential: auth.valid, actor }
  })
}

/**
 * Requests that share the first one's Authorization headers, each taking some
 * of its method, path, scheme, other headers and channel from the first too:
 * decided in a row, within one second, a memo keyed on too little would
 * answer one with another's decision.
 */
export function batchArbitrary (world: FuzzWorld): fc.Arbitrary<FuzzRequest[]> {
  const requests = requestArbitrary(world)
  const inherited = fc.record({ method: fc.boolean(), path: fc.boolean(), scheme: fc.boolean(), headers: fc.boolean(), via: fc.boolean() })
  return fc.tuple(requests, fc.array(fc.tuple(requests, inherited), { maxLength: 3 }))
    .map(([first, rest]) => [first, ...rest.map(([other, from]) => sibling(first, other, from))])
}

function sibling (first: FuzzRequest, other: FuzzRequest, from: { method: boolean, path: boolean, scheme: boolean, headers: boolean, via: boolean }): FuzzRequest {
  const isAuthorization = ([name]: [string, unknown]): boolean => name.toLowerCase() === 'authorization'
  const base = (from.headers ? first : other).request.headers
  const headers = Object.fromEntries([
    ...Object.entries(base).filter((entry) => !isAuthorization(entry)),
    ...Object.entries(first.request.headers).filter(isAuthorization)
  ])
  const { scheme } = (from.scheme ? first : other).request
  return {
    via: (from.via ? first : other).via,
    request: {
      method: (from.method ? first : other).request.method,
      path: (from.path ? first : other).request.path,
      headers,
      ...(scheme === undefined ? {} : { scheme })
    },
    validCredential: first.validCredential,
    actor: first.actor
  }
}

/** Decides the request twice through its channel, and once through the reference's; reports the invariants it broke. */
export async function check (world: FuzzWorld, fuzz: FuzzRequest): Promise<Outcome> {
  return (await checkAll(world, [fuzz]))[0] as Outcome
}

/**
 * Decides every request through its channel, then every one again, then every
 * one through the reference's channel, and reports for each the invariants it broke.
 */
export async function checkAll (world: FuzzWorld, fuzzes: FuzzRequest[]): Promise<Outcome[]> {
  const answers: Answer[][] = []
  try {
    for (const decider of [world, world, world.reference]) {
      const round: Answer[] = []
      for (const fuzz of fuzzes) round.push(await decide(decider, fuzz))
      answers.push(round)
    }
  } catch {
    return fuzzes.map(() => ({ status: 0, allow: false, violations: ['crash'] }))
  }
  const [firsts, seconds, fresh] = answers as [Answer[], Answer[], Answer[]]
  return fuzzes.map((fuzz, i) => {
    const first = firsts[i] as Answer
    const violations: Violation[] = []
    if (first.allow && !fuzz.validCredential) violations.push('allow_without_valid_credential')
    if (!fuzz.validCredential && first.status !== 401 && first.status !== 400) violations.push('invalid_credential_not_401')
    if (first.status >= 500) violations.push('server_error')
    if (first.namesCredential === true) violations.push('unauthenticated_names_credential')
    if (first.allow && fuzz.actor !== null && first.actor !== fuzz.actor) violations.push('actor_not_named')
    if (!sameAnswer(first, seconds[i] as Answer) || !sameAnswer(first, fresh[i] as Answer)) violations.push('nondeterministic')
    // Over HTTP, values HTTP cannot carry were left out (see decide): they cannot have been matched.
    const runAsValues = Object.entries(fuzz.request.headers).filter(([name]) => name.toLowerCase().startsWith('x-runas-')).flatMap(([, v]) => v ?? [])
      .filter((v) => fuzz.via !== 'forward-auth' || SENDABLE.test(v))
    if (first.allow && runAsValues.some(hasNonAscii)) violations.push('lossy_run_as_match')
    if (first.allow && first.actionClass === 'read' && !PATH_CLASS_METHODS.has(fuzz.request.method.toUpperCase())) violations.push('write_method_as_read')
    if (first.allow && /\?[^#]*access_token/.test(fuzz.request.path.replace(/%5f/gi, '_'))) violations.push('two_credential_methods_allowed')
    return { status: first.status, allow: first.allow, violations }
  })
}

interface Answer { status: number; allow: boolean; code?: string; subject?: string | null; actor?: string | null; namesCredential?: boolean; actionClass?: string }

function sameAnswer (a: Answer, b: Answer): boolean {
  return a.status === b.status && a.allow === b.allow && a.code === b.code && a.subject === b.subject
}

async function decide (world: Decider, { via, request }: FuzzRequest): Promise<Answer> {
  if (via === 'authorize') {
    const d = await world.authorizer.authorize(request)
    return { status: d.status, allow: d.allow, code: d.code, subject: d.subject, actor: d.actor, actionClass: d.action?.class }
  }
  if (via === 'decision-api') {
    const res = await world.app.inject({ method: 'POST', url: '/v1/authorize', payload: request })
    if (res.statusCode !== 200) return { status: res.statusCode, allow: false }
    const d = res.json() as { status: number; allow: boolean; code: string; subject: string | null; actor: string | null; action: { class: string } | null; credential: { id: string | null; prefix: string | null } }
    // A 401 answer that names a credential would tell which keys once existed.
    const namesCredential = d.status === 401 && (d.credential.id !== null || d.credential.prefix !== null)
    return { status: d.status, allow: d.allow, code: d.code, subject: d.subject, actor: d.actor, namesCredential, actionClass: d.action?.class }
  }
  // Over HTTP only what HTTP can carry: header values without control characters (latin1 bytes such as 0xA0 included), a path without spaces.
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue
    const values = (Array.isArray(value) ? value : [value]).filter((v) => SENDABLE.test(v))
    if (values.length > 0) headers[name] = values.length === 1 ? values[0] as string : values
  }
  const uri = request.path.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c))
  const res = await world.app.inject({
    method: 'GET', url: '/v1/forward-auth', headers: { ...headers, 'x-forwarded-method': request.method, 'x-forwarded-uri': uri }
  })
  const identity = (name: string): string | null => (res.headers[name] as string | undefined) || null
  return {
    status: res.statusCode,
    allow: res.statusCode === 200,
    code: res.statusCode === 200 ? 'OK' : (res.json() as { code: string }).code,
    subject: identity('x-keygate-user-id'),
    actor: identity('x-keygate-actor-id')
  }
}
