import { api, ApiError, html, listAll, render, setCsrfToken, useEffect, useRef, useState } from './lib.js'
import { ErrorNote } from './ui.js'
import { AccountsPage } from './pages/accounts.js'
import { AuditPage } from './pages/audit.js'
import { KeysPage } from './pages/keys.js'
import { OverviewPage } from './pages/overview.js'
import { PolicyPage } from './pages/policy.js'
import { SessionsPage } from './pages/sessions.js'
import { UsagePage } from './pages/usage.js'

const PAGES = [
  { path: 'keys', title: 'Keys', page: KeysPage },
  { path: 'accounts', title: 'Sub-accounts', page: AccountsPage },
  { path: 'sessions', title: 'Sessions', page: SessionsPage },
  { path: 'audit', title: 'Audit', page: AuditPage, admin: true },
  { path: 'usage', title: 'Usage', page: UsagePage },
  { path: 'policy', title: 'Policy', page: PolicyPage },
  { path: 'overview', title: 'Overview', page: OverviewPage, admin: true }
]

function route () {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?')
  return { path: path || 'keys', params: new URLSearchParams(query ?? '') }
}

/** Sign-in: the key is sent once, exchanged for a session cookie, and never kept in the browser. */
function SignIn ({ onSignedIn }) {
  const [error, setError] = useState(null)
  const input = useRef(null)
  useEffect(() => { input.current?.focus() }, [])
  const submit = async (event) => {
    event.preventDefault()
    const key = input.current.value
    input.current.value = ''
    try { onSignedIn(await api('POST', '/console/api/session', { key })) } catch (e) { setError(e) }
  }
  return html`<main id="main" class="signin">
    <h1>Keygate console</h1>
    <form class="card" onSubmit=${submit}>
      <label>Secret key <input ref=${input} name="key" type="password" autocomplete="off" required aria-describedby="signin-help" /></label>
      <p id="signin-help" class="help">Paste a full-access secret key (<code>sk-…</code>) once. It is exchanged for a console session and not kept in this browser.</p>
      <${ErrorNote} error=${error} />
      <button type="submit" class="primary">Sign in</button>
    </form>
  </main>`
}

function useChildren (me) {
  const [state, setState] = useState({ items: [], error: null })
  const [generation, setGeneration] = useState(0)
  useEffect(() => {
    if (me === null) return
    listAll('/api/v1/partner/user/list').then((items) => setState({ items, error: null }), (error) => setState({ items: [], error }))
  }, [me, generation])
  return { ...state, reload: () => setGeneration((g) => g + 1) }
}

function Console () {
  const [me, setMe] = useState(undefined)
  const [where, setWhere] = useState(route())
  const accounts = useChildren(me ?? null)
  const main = useRef(null)

  const signedIn = (session) => { setCsrfToken(session.csrfToken); setMe(session) }
  useEffect(() => {
    api('GET', '/console/api/session').then(signedIn, () => setMe(null))
    const changed = () => { setWhere(route()); main.current?.focus() }
    const signedOut = () => { setCsrfToken(null); setMe(null) }
    addEventListener('hashchange', changed)
    addEventListener('keygate:signed-out', signedOut)
    return () => { removeEventListener('hashchange', changed); removeEventListener('keygate:signed-out', signedOut) }
  }, [])
  useEffect(() => {
    const page = PAGES.find((p) => p.path === where.path)
    document.title = `${page?.title ?? 'Not found'} · Keygate console`
  }, [where])

  if (me === undefined) return html`<main id="main"><p>Loading…</p></main>`
  if (me === null) return html`<${SignIn} onSignedIn=${signedIn} />`

  const signOut = async () => {
    try { await api('POST', '/console/api/session/end') } catch (e) { if (!(e instanceof ApiError)) throw e }
    setCsrfToken(null)
    setMe(null)
  }
  const isAdmin = me.account.role === 'admin'
  const pages = PAGES.filter((p) => !p.admin || isAdmin)
  const current = pages.find((p) => p.path === where.path)
  const Page = current?.page
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); main.current?.focus() }}>Skip to content</a>
    <header class="top">
      <span class="brand">Keygate</span>
      <nav aria-label="Console">
        <ul>${pages.map((p) => html`<li><a href=${`#/${p.path}`} aria-current=${p === current ? 'page' : undefined}>${p.title}</a></li>`)}</ul>
      </nav>
      <span class="who"><span data-testid="who">${me.account.email}</span>${isAdmin ? html` <span class="badge">admin</span>` : ''}</span>
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    <main id="main" ref=${main} tabindex="-1">
      ${Page === undefined
        ? html`<h1>Not found</h1><p>No such page.</p>`
        : html`<${Page} key=${where.path + where.params} me=${me} params=${where.params} accounts=${accounts} />`}
    </main>`
}

const root = document.getElementById('app')
root.textContent = ''
render(html`<${Console} />`, root)
