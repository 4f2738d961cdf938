import t from 'tap'
import { auditServer } from '../helpers/audit.js'
import { forEachDatabase } from '../helpers/databases.js'
import { bearer } from '../helpers/server.js'

/**
 * A credential a parent mints for its child, or while acting as it, names the
 * parent as its actor: every decision made with it reports subject = child and
 * actor = parent, and it works only while the parent may act as the child.
 * Through the real server: the management API, forward-auth, the decision API
 * and the decision log.
 */
t.test('credentials minted for a child', (t) => forEachDatabase(t, async (t, _db, store) => {
  const server = await auditServer(t, store)
  const { app } = server
  const admin = await server.account({ role: 'admin' })

  const post = async (url: string, headers: Record<string, string>, payload: object = {}) =>
    await app.inject({ method: 'POST', url, headers, payload })
  const forwardAuth = async (headers: Record<string, string>, method = 'POST', uri = '/api/v1/bot/create') =>
    await app.inject({ url: '/v1/forward-auth', headers: { ...headers, 'x-forwarded-method': method, 'x-forwarded-uri': uri } })
  const decide = async (headers: Record<string, string>, path = '/api/v1/bot/create') =>
    (await post('/v1/authorize', {}, { method: 'POST', path, headers })).json()
  const setAccount = async (id: string, patch: { restrictions?: string[]; disabled?: boolean }) => {
    const res = await post(`/admin/v1/user/${id}/update`, admin.headers, patch)
    if (res.statusCode !== 200) throw new Error(`admin update: ${res.statusCode}`)
  }
  const family = async () => {
    const parent = await server.account()
    const child = await server.account({ parentId: parent.id })
    return { parent, child }
  }
  const mintKey = async (parentHeaders: Record<string, string>, childId: string) => {
    const res = await post(`/api/v1/partner/user/${childId}/token/create`, parentHeaders)
    if (res.statusCode !== 200) throw new Error(`partner token/create: ${res.statusCode}`)
    const { id, token } = res.json() as { id: string; token: string }
    return { id, headers: bearer(token) }
  }
  const claims = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString())
  const identity = (res: { statusCode: number; headers: Record<string, unknown> }) => ({
    status: res.statusCode, user: res.headers['x-keygate-user-id'], actor: res.headers['x-keygate-actor-id']
  })

  await t.test('a parent restricted from impersonation can mint neither a key nor a session for its child', async (t) => {
    const { parent, child } = await family()
    await setAccount(parent.id, { restrictions: ['impersonation'] })
    for (const url of [`/api/v1/partner/user/${child.id}/token/create`, `/api/v1/partner/user/${child.id}/session/create`]) {
      const res = await post(url, parent.headers)
      t.equal(res.statusCode, 403, url)
      t.same(res.json(), { message: 'Not authorized', code: 'NOT_AUTHORIZED' }, url)
    }
    t.same((await store.listKeys(child.id)).items.map((k) => k.id), [child.keyId], 'no key was made for the child')
    await server.audit.flush()
    const logged = await app.inject({ url: `/admin/v1/audit/list?keyId=${parent.keyId}&status=403&kind=decision`, headers: admin.headers })
    t.same(logged.json().items.map((e: { reason_codes: string[] }) => e.reason_codes), [['impersonation_restricted'], ['impersonation_restricted']])
    t.equal((await forwardAuth(child.headers)).statusCode, 200, 'the child itself is not affected')
  })

  await t.test('a key a parent minted for its child acts as the child and names the parent: forward-auth, decision API, decision log', async (t) => {
    const { parent, child } = await family()
    const minted = await mintKey(parent.headers, child.id)
    t.equal((await store.findKeyById(minted.id))?.actorId, parent.id, 'stored with the key')

    const res = await forwardAuth(minted.headers)
    t.same(identity(res), { status: 200, user: child.id, actor: parent.id })
    t.equal(res.headers['x-keygate-key-id'], minted.id)
    t.match(await decide(minted.headers), { allow: true, subject: child.id, actor: parent.id, credential: { type: 'secret_key', id: minted.id } })

    await server.audit.flush()
    const found = await app.inject({ url: `/admin/v1/audit/list?decisionId=${res.headers['x-keygate-decision-id'] as string}&kind=decision`, headers: admin.headers })
    const [entry] = found.json().items
    t.match(entry, {
      subject: child.id,
      actor: parent.id,
      impersonated: true,
      key_id: minted.id,
      result: { allow: true, subject: child.id, actor: parent.id },
      input: { version: 2, credential: { actorId: parent.id }, principal: { id: child.id }, actor: { id: parent.id, restrictions: [] } }
    })
  })

  await t.test('a minted key stops at once when its parent is restricted from impersonation or disabled, and works again when undone', async (t) => {
    const { parent, child } = await family()
    const minted = await mintKey(parent.headers, child.id)
    // Twice: the second answer comes from the decision memo, which must be dropped too.
    t.equal((await forwardAuth(minted.headers)).statusCode, 200)
    t.equal((await forwardAuth(minted.headers)).statusCode, 200)

    await setAccount(parent.id, { restrictions: ['impersonation'] })
    t.same(identity(await forwardAuth(minted.headers)), { status: 403, user: undefined, actor: undefined }, 'restricted: refused')
    t.match(await decide(minted.headers), { allow: false, status: 403, subject: child.id, actor: parent.id })
    await setAccount(parent.id, { restrictions: [] })
    t.equal((await forwardAuth(minted.headers)).statusCode, 200, 'restriction lifted')

    await setAccount(parent.id, { disabled: true })
    const disabled = await forwardAuth(minted.headers)
    t.equal(disabled.statusCode, 401, 'parent disabled: the key is no credential')
    t.equal(disabled.headers['www-authenticate'], 'Bearer realm="keygate", error="invalid_token"')
    await setAccount(parent.id, { disabled: false })
    t.equal((await forwardAuth(minted.headers)).statusCode, 200, 'parent enabled again')
  })

  await t.test('a session minted for a child, or while impersonating it, carries act and stops when the parent is restricted', async (t) => {
    const { parent, child } = await family()
    const forChild = await post(`/api/v1/partner/user/${child.id}/session/create`, parent.headers)
    const asChild = await post('/api/v1/session/create', { ...parent.headers, 'x-runas-user-id': child.id })
    const own = await post('/api/v1/session/create', child.headers)
    for (const [name, res] of [['partner session/create', forChild], ['session/create with X-RunAs-User-ID', asChild]] as const) {
      t.equal(res.statusCode, 200, name)
      const token = res.json().token as string
      t.match(claims(token), { sub: child.id, act: { sub: parent.id } }, `${name}: RFC 8693 act`)
      const allowed = await forwardAuth(bearer(token), 'POST', '/api/v1/bot/list')
      t.same(identity(allowed), { status: 200, user: child.id, actor: parent.id }, name)
      t.equal(allowed.headers['x-keygate-credential'], 'session', name)
    }
    const ownToken = own.json().token as string
    t.notOk('act' in claims(ownToken), 'a session the child made for itself has no actor')

    await setAccount(parent.id, { restrictions: ['impersonation'] })
    for (const res of [forChild, asChild]) {
      t.equal((await forwardAuth(bearer(res.json().token as string), 'POST', '/api/v1/bot/list')).statusCode, 403)
    }
    t.same(identity(await forwardAuth(bearer(ownToken), 'POST', '/api/v1/bot/list')), { status: 200, user: child.id, actor: '' })
  })

  await t.test("keys a child made for itself are not affected by its parent's restriction", async (t) => {
    const { parent, child } = await family()
    const made = await post('/api/v1/token/create', child.headers)
    t.equal(made.statusCode, 200)
    t.equal((await store.findKeyById(made.json().id as string))?.actorId, null, 'no actor')
    await setAccount(parent.id, { restrictions: ['impersonation'] })
    for (const headers of [child.headers, bearer(made.json().token as string)]) {
      t.same(identity(await forwardAuth(headers)), { status: 200, user: child.id, actor: '' })
    }
  })

  await t.test('a minted key cannot shed its actor: no keys, no children, no impersonation; sessions and rolls keep the actor', async (t) => {
    const { parent, child } = await family()
    const minted = await mintKey(parent.headers, child.id)
    const grandchild = await server.account({ parentId: child.id })
    for (const url of ['/api/v1/token/create', '/api/v1/partner/user/create', `/api/v1/partner/user/${grandchild.id}/token/create`]) {
      t.equal((await post(url, minted.headers, url.endsWith('user/create') ? { email: 'g2@example.com' } : {})).statusCode, 403, url)
    }
    t.equal((await forwardAuth({ ...minted.headers, 'x-runas-user-id': grandchild.id })).statusCode, 403, 'cannot impersonate the grandchild')

    const session = await post('/api/v1/session/create', minted.headers)
    t.equal(session.statusCode, 200)
    t.match(claims(session.json().token as string), { sub: child.id, act: { sub: parent.id } }, 'a session made with it has the same actor')

    // The child rolls the key its parent made: the replacement is the same credential, actor included.
    const rolled = await post(`/api/v1/token/${minted.id}/roll`, child.headers)
    t.equal(rolled.statusCode, 200)
    t.equal((await store.findKeyById(rolled.json().id as string))?.actorId, parent.id)
    await setAccount(parent.id, { restrictions: ['impersonation'] })
    for (const headers of [bearer(rolled.json().token as string), bearer(session.json().token as string)]) {
      t.equal((await forwardAuth(headers, 'POST', '/api/v1/bot/list')).statusCode, 403)
    }
  })
}))
