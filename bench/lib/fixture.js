// Accounts, keys and session tokens for the benchmarks, made through Keygate's own API.
import { randomBytes } from 'node:crypto'
import { createAccount, issueKey, openStore, Sessions } from '../../dist/index.js'

/** A parent with a child, a full-access key for the parent, and a session token for the parent. */
export async function smallFixture (databaseUrl, { secret = randomBytes(32) } = {}) {
  const store = await openStore({ databaseUrl })
  try {
    const parent = await createAccount(store, { email: 'parent@bench.example' })
    const child = await createAccount(store, { email: 'child@bench.example', parentId: parent.id })
    const key = await issueKey(store, { userId: parent.id, name: 'bench' })
    const sessions = new Sessions({ db: store.database, secret })
    const session = await sessions.mint({ userId: parent.id, durationInSeconds: 3600 })
    await sessions.close()
    return { parentId: parent.id, childId: child.id, key: key.token, keyId: key.id, session: session.token, secret }
  } finally {
    await store.close()
  }
}

/** Headers for a forward-auth check of `path` as a proxy (Traefik/Caddy style) sends them. */
export function forwardHeaders (credential, path = '/api/v1/bot/bot_123/update', extra = {}) {
  return {
    authorization: `Bearer ${credential}`,
    'x-forwarded-method': 'POST',
    'x-forwarded-uri': path,
    ...extra
  }
}
