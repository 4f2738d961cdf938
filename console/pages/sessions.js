import { api, html, listAll, useLoad, useState, when } from '../lib.js'
import { ConfirmDialog, ErrorNote, OwnerPicker, SecretDialog } from '../ui.js'
import { routeAllowed } from '../globs.js'

const EXAMPLES = ['GET /api/v1/bot/list', 'POST /api/v1/bot/create', 'POST /api/v1/bot/bot_1/delete', 'GET /api/v1/conversation/list', 'POST /api/v1/conversation/c_1/message/create']

export function SessionsPage ({ params, accounts }) {
  const [owner, setOwner] = useState(params.get('user') ?? '')
  const base = owner === '' ? '/api/v1/session' : `/api/v1/partner/user/${encodeURIComponent(owner)}/session`
  const sessions = useLoad(() => listAll(`${base}/list`), [base])
  const [minted, setMinted] = useState(null)
  const [ending, setEnding] = useState(null)
  const endPath = (id) => owner === '' ? `/api/v1/session/${encodeURIComponent(id)}/delete` : `${base}/${encodeURIComponent(id)}/delete`
  return html`<section aria-labelledby="sessions-title">
    <h1 id="sessions-title">Session tokens</h1>
    <div class="toolbar"><${OwnerPicker} accounts=${accounts} owner=${owner} onChange=${setOwner} /></div>
    <${MintSession} base=${base} child=${owner !== ''} onMinted=${(session) => { setMinted(session); sessions.reload() }} />
    <h2>Live sessions</h2>
    <${ErrorNote} error=${sessions.error} />
    ${sessions.data !== null && html`<div class="table-wrap"><table>
      <caption class="visually-hidden">Live sessions</caption>
      <thead><tr><th scope="col">Id</th><th scope="col">Allowed routes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${sessions.data.length === 0 && html`<tr><td colspan="5">No live sessions.</td></tr>`}
        ${sessions.data.map((s) => html`<tr key=${s.id} data-session-id=${s.id}>
          <td data-label="Id"><code>${s.id}</code></td>
          <td data-label="Allowed routes">${s.allowedRoutes === null ? 'every route' : s.allowedRoutes.length === 0 ? 'none' : s.allowedRoutes.map((r) => html`<code class="glob">${r}</code> `)}</td>
          <td data-label="Created">${when(s.createdAt)}</td>
          <td data-label="Expires">${when(s.expiresAt)}</td>
          <td data-label="Actions"><button type="button" class="danger" onClick=${() => setEnding(s)} aria-label=${`End ${s.id}`}>End</button></td>
        </tr>`)}
      </tbody>
    </table></div>`}
    ${minted !== null && html`<${SecretDialog} title="New session token" secret=${minted.token} onClose=${() => setMinted(null)} />`}
    ${ending !== null && html`<${ConfirmDialog} title="End this session?" confirm="End session" onClose=${() => setEnding(null)}
      onConfirm=${async () => { await api('POST', endPath(ending.id)); sessions.reload() }}>
      <p>Session <code>${ending.id}</code> is refused from now on.</p>
    <//>`}
  </section>`
}

function MintSession ({ base, child, onMinted }) {
  const [duration, setDuration] = useState('900')
  const [globs, setGlobs] = useState('')
  const [probes, setProbes] = useState(EXAMPLES.join('\n'))
  const [error, setError] = useState(null)
  const patterns = globs.split('\n').map((g) => g.trim()).filter((g) => g !== '')
  const allowedRoutes = patterns.length === 0 ? null : patterns
  const submit = async (event) => {
    event.preventDefault()
    setError(null)
    const body = { durationInSeconds: Number(duration) }
    if (allowedRoutes !== null) body.config = { allowedRoutes }
    try { onMinted(await api('POST', `${base}/create`, body)) } catch (e) { setError(e) }
  }
  const tested = probes.split('\n').map((line) => line.trim()).filter((line) => line !== '').map((line) => {
    const [method, path] = line.includes(' ') ? line.split(/\s+/, 2) : ['GET', line]
    return { method, path, allowed: routeAllowed(allowedRoutes, path) }
  })
  return html`<form class="card" onSubmit=${submit} aria-labelledby="mint-title">
    <h2 id="mint-title">Mint a session token${child ? ' for this sub-account' : ''}</h2>
    <div class="fields">
      <label>Duration (seconds) <input name="duration" type="number" min="1" required value=${duration} onInput=${(e) => setDuration(e.currentTarget.value)} /></label>
      <label>Allowed routes, one glob a line <textarea name="allowedRoutes" rows="4" value=${globs} onInput=${(e) => setGlobs(e.currentTarget.value)} placeholder="empty: every route" aria-describedby="globs-help"></textarea></label>
    </div>
    <p id="globs-help" class="help">Globs over the path after <code>/api/v1/</code>: <code>*</code> one segment, <code>**</code> any number, a leading <code>!</code> excludes.</p>
    <details open>
      <summary>Glob tester</summary>
      <label>Routes to try, one a line (method and path) <textarea name="probes" rows="5" value=${probes} onInput=${(e) => setProbes(e.currentTarget.value)}></textarea></label>
      <ul class="probes" aria-live="polite">
        ${tested.map((p) => html`<li data-path=${p.path} data-allowed=${String(p.allowed)}><span class=${`badge ${p.allowed ? 'good' : 'bad'}`}>${p.allowed ? 'allowed' : 'refused'}</span> <code>${p.method} ${p.path}</code></li>`)}
      </ul>
    </details>
    <${ErrorNote} error=${error} />
    <button type="submit" class="primary">Mint session token</button>
  </form>`
}
