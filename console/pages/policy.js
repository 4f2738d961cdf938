// The Policy page: "Can I?" (decide as one of your credentials), "Who can do
// what" (the catalogue against you and each sub-account) and, for admins,
// impact analysis (replay recorded decisions against an uploaded bundle).
// Every answer is the API's: POST /api/v1/token/check and /admin/v1/policy/replay.
import { api, html, listAll, useLoad, useState } from '../lib.js'
import { ErrorNote } from '../ui.js'

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']

/** The keys the signed-in account may test: its own and its sub-accounts'. */
function useKeys (me, accounts) {
  return useLoad(async () => {
    const own = (await listAll('/api/v1/token/list')).map((k) => ({ ...k, owner: me.account.email }))
    const children = await Promise.all(accounts.items.map(async (child) =>
      (await listAll(`/api/v1/partner/user/${encodeURIComponent(child.id)}/token/list`)).map((k) => ({ ...k, owner: child.email }))))
    return [...own, ...children.flat()]
  }, [accounts.items])
}

function keyLabel (key) {
  return `${key.owner}: ${key.name ?? 'unnamed'} (${key.prefix}…)`
}

/** X-RunAs-User-ID for an id, X-RunAs-Child-User-Email for an e-mail. */
function runAsOf (text) {
  const value = text.trim()
  if (value === '') return {}
  return value.includes('@') ? { runAsEmail: value } : { runAsUserId: value }
}

export function PolicyPage ({ me, accounts }) {
  const keys = useKeys(me, accounts)
  const isAdmin = me.account.role === 'admin'
  return html`<section aria-labelledby="policy-title">
    <h1 id="policy-title">Policy</h1>
    <${ErrorNote} error=${keys.error} />
    <${CanI} me=${me} keys=${keys.data ?? []} />
    <${Matrix} me=${me} keys=${keys.data ?? []} accounts=${accounts} />
    ${isAdmin && html`<${Replay} />`}
  </section>`
}

function CanI ({ me, keys }) {
  const [kind, setKind] = useState('key')
  const [keyId, setKeyId] = useState(me.key.id)
  const [method, setMethod] = useState('GET')
  const [path, setPath] = useState('/api/v1/bot/list')
  const [runAs, setRunAs] = useState('')
  const [answer, setAnswer] = useState(null)
  const [error, setError] = useState(null)
  const submit = async (event) => {
    event.preventDefault()
    const form = event.currentTarget
    setError(null)
    setAnswer(null)
    const credential = kind === 'key' ? { keyId } : { sessionToken: form.elements.sessionToken.value.trim() }
    try {
      setAnswer(await api('POST', '/api/v1/token/check', { ...credential, checks: [{ method, path, ...runAsOf(runAs) }] }))
    } catch (e) { setError(e) }
    // The pasted token is not kept on the page.
    if (kind === 'session') form.elements.sessionToken.value = ''
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="cani-title">
    <h2 id="cani-title">Can I?</h2>
    <fieldset>
      <legend>Credential</legend>
      <label class="check"><input type="radio" name="kind" value="key" checked=${kind === 'key'} onChange=${() => setKind('key')} /> One of the keys</label>
      <label class="check"><input type="radio" name="kind" value="session" checked=${kind === 'session'} onChange=${() => setKind('session')} /> A session token</label>
    </fieldset>
    <div class="fields">
      ${kind === 'key'
        ? html`<label>Key <select name="keyId" value=${keyId} onChange=${(e) => setKeyId(e.currentTarget.value)}>
            ${keys.length === 0 && html`<option value=${me.key.id}>${me.key.name ?? 'this console\'s key'} (${me.key.prefix}…)</option>`}
            ${keys.map((k) => html`<option value=${k.id}>${keyLabel(k)}</option>`)}
          </select></label>`
        : html`<label>Session token <input name="sessionToken" type="password" autocomplete="off" required aria-describedby="token-help" /></label>`}
      <label>Method <select name="method" value=${method} onChange=${(e) => setMethod(e.currentTarget.value)}>
        ${METHODS.map((m) => html`<option value=${m}>${m}</option>`)}
      </select></label>
      <label>Path <input name="path" required value=${path} onInput=${(e) => setPath(e.currentTarget.value)} /></label>
      <label>Run as (id or e-mail, optional) <input name="runAs" value=${runAs} onInput=${(e) => setRunAs(e.currentTarget.value)} /></label>
    </div>
    ${kind === 'session' && html`<p id="token-help" class="help">The token is sent once to Keygate and cleared from the page.</p>`}
    <${ErrorNote} error=${error} />
    <div class="actions"><button type="submit" class="primary">Check</button></div>
    ${answer !== null && html`<${Answer} answer=${answer} />`}
  </form>`
}

function Answer ({ answer }) {
  const result = answer.results[0]
  return html`<div class="answer" aria-live="polite" data-testid="answer" data-allowed=${String(result.allow)}>
    <p><span class=${`badge ${result.allow ? 'good' : 'bad'}`}>${result.allow ? 'allowed' : 'refused'}</span>
      ${' '}<strong>${result.status} ${result.code}</strong> for <code>${result.method} ${result.path}</code></p>
    <dl class="detail">
      <dt>Subject</dt><dd>${result.subject ?? '—'}</dd>
      <dt>Actor</dt><dd>${result.actor ?? '—'}</dd>
      <dt>Action</dt><dd>${result.action === null ? '—' : `${result.action.resource} ${result.action.verb} (${result.action.class})`}</dd>
      <dt>Credential</dt><dd>${answer.credential.type} ${answer.credential.id ?? ''} ${answer.credential.prefix ? `(${answer.credential.prefix}…)` : ''}</dd>
      <dt>Policy revision</dt><dd><code>${answer.policyRevision ?? '—'}</code></dd>
    </dl>
    ${answer.reasonsShown
      ? result.reasons.length > 0 && html`<div class="table-wrap" tabindex="0" role="region" aria-label="Reasons"><table>
          <caption>Reasons and the Rego rules behind them${answer.sources === 'bundle' ? ' (lines of the bundle\'s reformatted copy)' : ''}</caption>
          <thead><tr><th scope="col">Reason</th><th scope="col">Message</th><th scope="col">Rule</th><th scope="col">Where</th></tr></thead>
          <tbody>${result.reasons.map((r) => html`<tr data-reason=${r.code}>
            <td data-label="Reason"><code>${r.code}</code></td><td data-label="Message">${r.msg}</td><td data-label="Rule"><code>${r.rule ?? 'not found'}</code></td><td data-label="Where"><code>${r.location ?? '—'}</code></td>
          </tr>`)}</tbody>
        </table></div>`
      : html`<p class="help">Reasons are shown to admins only: they could tell which accounts exist.</p>`}
  </div>`
}

/** Placeholders filled so that the path parses as the route it stands for. */
function samplePath (template) {
  return template.replace('{path}', 'docs/readme.md').replace(/\{[A-Za-z]+\}/g, 'example')
}

async function catalogue () {
  const response = await fetch('/console/routes.tsv', { credentials: 'same-origin' })
  if (!response.ok) throw new Error(`the route catalogue: ${response.status}`)
  return (await response.text()).trim().split('\n').slice(1).map((line) => {
    const [method, template] = line.split('\t')
    return { method, template, resource: template.split('/')[3] }
  })
}

function Matrix ({ me, keys, accounts }) {
  const [keyId, setKeyId] = useState(me.key.id)
  const [filter, setFilter] = useState('')
  const [matrix, setMatrix] = useState(null)
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)
  const build = async (event) => {
    event.preventDefault()
    setError(null)
    setBusy(true)
    try {
      const routes = (await catalogue()).filter((r) => filter.trim() === '' || r.resource.includes(filter.trim().toLowerCase()))
      const columns = [{ label: 'Self', runAs: {} }, ...accounts.items.map((c) => ({ label: c.email, runAs: { runAsUserId: c.id } }))]
      // One request per column: every route at once.
      const answers = await Promise.all(columns.map((c) => routes.length === 0
        ? { results: [] }
        : api('POST', '/api/v1/token/check', { keyId, checks: routes.map((r) => ({ method: r.method, path: samplePath(r.template), ...c.runAs })) })))
      setMatrix({ routes, columns, cells: answers.map((a) => a.results) })
    } catch (e) { setError(e) }
    setBusy(false)
  }
  const groups = []
  if (matrix !== null) {
    matrix.routes.forEach((route, i) => {
      const last = groups.at(-1)
      if (last?.resource === route.resource) last.rows.push(i)
      else groups.push({ resource: route.resource, rows: [i] })
    })
  }
  return html`<form class="card" onSubmit=${build} aria-labelledby="matrix-title">
    <h2 id="matrix-title">Who can do what</h2>
    <p class="help">The catalogue's routes against this account and each sub-account (acting as it with the key), as the policy decides them now.</p>
    <div class="fields">
      <label>Key <select name="matrixKey" value=${keyId} onChange=${(e) => setKeyId(e.currentTarget.value)}>
        ${keys.length === 0 && html`<option value=${me.key.id}>${me.key.name ?? 'this console\'s key'} (${me.key.prefix}…)</option>`}
        ${keys.filter((k) => k.owner === me.account.email).map((k) => html`<option value=${k.id}>${keyLabel(k)}</option>`)}
      </select></label>
      <label>Resources containing (optional) <input name="resource" value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} placeholder="e.g. bot" /></label>
    </div>
    <${ErrorNote} error=${error} />
    <div class="actions"><button type="submit" class="primary" disabled=${busy}>${busy ? 'Deciding…' : 'Show the matrix'}</button></div>
    ${matrix !== null && html`<div class="table-wrap matrix" tabindex="0" role="region" aria-label="Who can do what"><table data-testid="matrix">
      <caption>${matrix.routes.length} routes × ${matrix.columns.length} ${matrix.columns.length === 1 ? 'account' : 'accounts'}</caption>
      <thead><tr><th scope="col">Route</th>${matrix.columns.map((c) => html`<th scope="col">${c.label}</th>`)}</tr></thead>
      ${groups.map((g) => html`<tbody>
        <tr class="group"><th scope="colgroup" colspan=${matrix.columns.length + 1}>${g.resource}</th></tr>
        ${g.rows.map((i) => html`<tr data-route=${`${matrix.routes[i].method} ${matrix.routes[i].template}`}>
          <th scope="row"><code>${matrix.routes[i].method} ${matrix.routes[i].template}</code></th>
          ${matrix.cells.map((column, c) => {
            const cell = column[i]
            return html`<td data-column=${matrix.columns[c].label} data-label=${matrix.columns[c].label} data-allowed=${String(cell.allow)}>
              <span class=${`badge ${cell.allow ? 'good' : 'bad'}`}>${cell.allow ? 'allow' : `deny ${cell.status}`}</span></td>`
          })}
        </tr>`)}
      </tbody>`)}
    </table></div>`}
  </form>`
}

function Replay () {
  const [report, setReport] = useState(null)
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)
  const submit = async (event) => {
    event.preventDefault()
    const form = event.currentTarget
    const file = form.elements.bundle.files[0]
    setError(null)
    setReport(null)
    if (file === undefined) return
    const query = new URLSearchParams()
    if (form.elements.since.value.trim() !== '') query.set('since', form.elements.since.value.trim())
    if (form.elements.limit.value.trim() !== '') query.set('limit', form.elements.limit.value.trim())
    setBusy(true)
    try {
      setReport(await api('POST', `/admin/v1/policy/replay?${query}`, new Blob([file], { type: 'application/gzip' })))
    } catch (e) { setError(e) }
    setBusy(false)
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="replay-title">
    <h2 id="replay-title">Impact analysis</h2>
    <p class="help">Replays the policy inputs of the last recorded decisions against a built bundle (<code>opa build -t wasm</code> output, <code>.tar.gz</code>) and lists every decision that would change. Nothing is loaded or changed on the server.</p>
    <div class="fields">
      <label>Bundle <input name="bundle" type="file" accept=".tar.gz,.tgz,application/gzip" required /></label>
      <label>Since (optional) <input name="since" placeholder="24h, 7d, or a date-time" /></label>
      <label>Last N decisions <input name="limit" type="number" min="1" max="10000" value="1000" /></label>
    </div>
    <${ErrorNote} error=${error} />
    <div class="actions"><button type="submit" class="primary" disabled=${busy}>${busy ? 'Replaying…' : 'Replay'}</button></div>
    ${report !== null && html`<${ReplayReport} report=${report} />`}
  </form>`
}

function outcome (o) {
  return html`<span class=${`badge ${o.allow ? 'good' : 'bad'}`}>${o.status} ${o.allow ? 'allow' : 'deny'}</span>${o.reasons.length > 0 ? html` <code>${o.reasons.join(', ')}</code>` : ''}`
}

function ReplayReport ({ report }) {
  return html`<div aria-live="polite" data-testid="replay">
    <p data-testid="replay-summary"><strong>${report.changes.length}</strong> of ${report.replayed} replayed decisions would change
      (${report.read} read${report.since === null ? '' : ` since ${report.since}`}; bundle revision <code>${report.revision || '—'}</code>${report.faults > 0 ? `; ${report.faults} could not be decided` : ''}).</p>
    ${report.changes.length > 0 && html`
      <div class="table-wrap" tabindex="0" role="region" aria-label="By route"><table>
        <caption>By route</caption>
        <thead><tr><th scope="col">Route</th><th scope="col">Changed</th><th scope="col">To deny</th><th scope="col">To allow</th></tr></thead>
        <tbody>${report.byRoute.map((r) => html`<tr><th scope="row"><code>${r.route}</code></th><td data-label="Changed">${r.changed}</td><td data-label="To deny">${r.toDeny}</td><td data-label="To allow">${r.toAllow}</td></tr>`)}</tbody>
      </table></div>
      <div class="table-wrap" tabindex="0" role="region" aria-label="By reason"><table>
        <caption>By reason</caption>
        <thead><tr><th scope="col">Reason</th><th scope="col">Added</th><th scope="col">Removed</th></tr></thead>
        <tbody>${report.byReason.map((r) => html`<tr><th scope="row"><code>${r.reason}</code></th><td data-label="Added">${r.added}</td><td data-label="Removed">${r.removed}</td></tr>`)}</tbody>
      </table></div>
      <div class="table-wrap" tabindex="0" role="region" aria-label="Decisions that would change"><table>
        <caption>Decisions that would change</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Request</th><th scope="col">Subject</th><th scope="col">Recorded</th><th scope="col">Replayed</th></tr></thead>
        <tbody>${report.changes.map((c) => html`<tr data-decision-id=${c.decisionId}>
          <td data-label="Time">${c.timestamp.slice(0, 19).replace('T', ' ')}</td><td data-label="Request"><code>${c.method} ${c.path}</code></td>
          <td data-label="Subject">${c.subject ?? '—'}</td><td data-label="Recorded">${outcome(c.recorded)}</td><td data-label="Replayed">${outcome(c.replayed)}</td>
        </tr>`)}</tbody>
      </table></div>`}
  </div>`
}
