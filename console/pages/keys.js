import { api, DAY_MS, html, listAll, useLoad, useState, when } from '../lib.js'
import { ConfirmDialog, ErrorNote, OwnerPicker, SecretDialog } from '../ui.js'

const GRACE = [[0, 'none: the old key stops now'], [3600, '1 hour'], [86_400, '1 day'], [7 * 86_400, '7 days'], [30 * 86_400, '30 days']]

function basePath (owner) {
  return owner === '' ? '/api/v1' : `/api/v1/partner/user/${encodeURIComponent(owner)}`
}

const SPARK_DAYS = 30
const SPARK_WIDTH = 90
const SPARK_HEIGHT = 22

/**
 * Badges for the seed's best practices ("rotate keys regularly and revoke
 * unused keys"), as AWS IAM's credential report flags them, with the
 * operator's thresholds; each has the status filter of the same name.
 */
function badges (key, now, { unusedDays, rotationDays }) {
  const out = []
  if (key.expiresAt !== null && key.expiresAt <= now) out.push(['expired', 'bad', 'expired'])
  else if (key.expiresAt !== null && key.expiresAt - now < 7 * DAY_MS) out.push(['expires soon', 'warn', 'expiring'])
  const since = key.lastUsedAt ?? key.createdAt
  if (now - since > unusedDays * DAY_MS) out.push([key.lastUsedAt === null ? `never used (${unusedDays}+ days)` : `not used for ${unusedDays}+ days`, 'warn', 'unused'])
  if (now - key.createdAt > rotationDays * DAY_MS) out.push([`older than ${rotationDays} days: rotation due`, 'warn', 'rotation'])
  return out
}

const STATUSES = [['all', 'all'], ['attention', 'needs attention'], ['ok', 'fine'], ['unused', 'not used for N days'], ['rotation', 'rotation due'], ['expiring', 'expires soon'], ['expired', 'expired']]

/** The last SPARK_DAYS UTC days' requests, oldest first (0 for a day without any). */
function dailySeries (usage, now) {
  const byDay = new Map((usage ?? []).map((d) => [d.day, d.requests]))
  const out = []
  for (let i = SPARK_DAYS - 1; i >= 0; i--) {
    const day = new Date(now - i * DAY_MS).toISOString().slice(0, 10)
    out.push(byDay.get(day) ?? 0)
  }
  return out
}

/** A key's 30 days as an inline line; its text alternative says the same in words. */
function SparkLine ({ usage, now, name }) {
  const points = dailySeries(usage, now)
  const max = Math.max(...points)
  const sum = points.reduce((a, b) => a + b, 0)
  const x = (i) => (i * (SPARK_WIDTH - 2)) / (points.length - 1) + 1
  const y = (v) => SPARK_HEIGHT - 2 - (max === 0 ? 0 : (v / max) * (SPARK_HEIGHT - 4))
  const label = sum === 0
    ? `${name}: no requests in the last ${SPARK_DAYS} days`
    : `${name}: ${sum} requests in the last ${SPARK_DAYS} days, at most ${max} a day, ${points[points.length - 1]} today`
  return html`<svg class="spark" width=${SPARK_WIDTH} height=${SPARK_HEIGHT} viewBox=${`0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`} role="img" aria-label=${label} data-requests=${sum}>
    <title>${label}</title>
    <polyline points=${points.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')} />
  </svg>`
}

export function KeysPage ({ me, params, accounts }) {
  const [owner, setOwner] = useState(params.get('user') ?? '')
  const base = basePath(owner)
  const keys = useLoad(() => listAll(`${base}/token/list?usageDays=${SPARK_DAYS}`), [base])
  const [search, setSearch] = useState('')
  const [status, setStatus] = useState('all')
  const [thresholds, setThresholds] = useState(me.keyAge)
  const [secret, setSecret] = useState(null)
  const [rolling, setRolling] = useState(null)
  const [revoking, setRevoking] = useState(null)
  const now = Date.now()

  const shown = (keys.data ?? []).filter((k) => {
    const text = `${k.name ?? ''} ${k.prefix}`.toLowerCase()
    if (search !== '' && !text.includes(search.toLowerCase())) return false
    const flags = badges(k, now, thresholds).map(([, , flag]) => flag)
    if (status === 'all') return true
    if (status === 'attention') return flags.length > 0
    if (status === 'ok') return flags.length === 0
    return flags.includes(status)
  })

  return html`<section aria-labelledby="keys-title">
    <h1 id="keys-title">Secret keys</h1>
    <div class="toolbar">
      <${OwnerPicker} accounts=${accounts} owner=${owner} onChange=${setOwner} />
    </div>
    <${CreateKey} base=${base} onCreated=${(token) => { setSecret({ title: 'New secret key', token }); keys.reload() }} />
    <div class="toolbar" role="search">
      <label class="inline">Search <input type="search" value=${search} onInput=${(e) => setSearch(e.currentTarget.value)} placeholder="name or prefix" /></label>
      <label class="inline">Status
        <select value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
          ${STATUSES.map(([value, label]) => html`<option value=${value}>${label}</option>`)}
        </select>
      </label>
      <label class="inline">Not used for <input type="number" min="1" class="short" value=${thresholds.unusedDays} onInput=${(e) => setThresholds({ ...thresholds, unusedDays: Number(e.currentTarget.value) || me.keyAge.unusedDays })} /> days</label>
      <label class="inline">Rotation due after <input type="number" min="1" class="short" value=${thresholds.rotationDays} onInput=${(e) => setThresholds({ ...thresholds, rotationDays: Number(e.currentTarget.value) || me.keyAge.rotationDays })} /> days</label>
    </div>
    <p class="help">The operator's thresholds are ${me.keyAge.unusedDays} days unused and ${me.keyAge.rotationDays} days old (<code>KEYGATE_KEY_UNUSED_DAYS</code>, <code>KEYGATE_KEY_ROTATION_DAYS</code>); <code>keygate key list --unused-days --older-than-days</code> lists the same keys.</p>
    <${ErrorNote} error=${keys.error} />
    ${keys.data !== null && html`<div class="table-wrap"><table>
      <caption class="visually-hidden">Keys that are not revoked</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">Requests</th><th scope="col">Last ${SPARK_DAYS} days</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${shown.length === 0 && html`<tr><td colspan="9">No keys.</td></tr>`}
        ${shown.map((k) => html`<tr key=${k.id} data-key-id=${k.id}>
          <td data-label="Name">${k.name ?? html`<em>unnamed</em>`} ${badges(k, now, thresholds).map(([label, kind]) => html` <span class=${`badge ${kind}`}>${label}</span>`)}</td>
          <td data-label="Prefix"><code>${k.prefix}</code></td>
          <td data-label="Scopes">${k.scopes === null ? 'full access' : k.scopes.join(' ')}</td>
          <td data-label="Created">${when(k.createdAt)}</td>
          <td data-label="Expires">${k.expiresAt === null ? 'never' : when(k.expiresAt)}</td>
          <td data-label="Last used">${k.lastUsedAt === null ? 'never' : when(k.lastUsedAt)}</td>
          <td data-label="Requests">${k.requestCount}</td>
          <td data-label=${`Last ${SPARK_DAYS} days`}><${SparkLine} usage=${k.usage} now=${now} name=${k.name ?? k.prefix} /></td>
          <td data-label="Actions" class="row-actions">
            <button type="button" onClick=${() => setRolling(k)} aria-label=${`Roll ${k.name ?? k.prefix}`}>Roll</button>
            <button type="button" class="danger" onClick=${() => setRevoking(k)} aria-label=${`Revoke ${k.name ?? k.prefix}`}>Revoke</button>
          </td>
        </tr>`)}
      </tbody>
    </table></div>`}
    ${secret !== null && html`<${SecretDialog} title=${secret.title} secret=${secret.token} onClose=${() => setSecret(null)} />`}
    ${rolling !== null && html`<${RollDialog} base=${base} keyRecord=${rolling} onClose=${() => setRolling(null)}
      onRolled=${(token) => { setRolling(null); setSecret({ title: 'Rolled: the new secret key', token }); keys.reload() }} />`}
    ${revoking !== null && html`<${ConfirmDialog} title="Revoke this key?" confirm="Revoke" onClose=${() => setRevoking(null)}
      onConfirm=${async () => { await api('POST', `${base}/token/${encodeURIComponent(revoking.id)}/delete`); keys.reload() }}>
      <p>Every request with <code>${revoking.prefix}…</code>${revoking.name ? ` (${revoking.name})` : ''} is refused from now on. This cannot be undone.</p>
    <//>`}
  </section>`
}

function CreateKey ({ base, onCreated }) {
  const [name, setName] = useState('')
  const [scopes, setScopes] = useState('')
  const [days, setDays] = useState('')
  const [error, setError] = useState(null)
  const submit = async (event) => {
    event.preventDefault()
    setError(null)
    const body = { name: name === '' ? null : name }
    if (scopes.trim() !== '') body.scopes = scopes.trim().split(/[\s,]+/)
    if (days !== '') body.expiresInSeconds = Math.round(Number(days) * 86_400)
    try {
      const created = await api('POST', `${base}/token/create`, body)
      setName(''); setScopes(''); setDays('')
      onCreated(created.token)
    } catch (e) { setError(e) }
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="create-key-title">
    <h2 id="create-key-title">Create a key</h2>
    <div class="fields">
      <label>Name <input name="name" value=${name} onInput=${(e) => setName(e.currentTarget.value)} /></label>
      <label>Scopes <input name="scopes" value=${scopes} onInput=${(e) => setScopes(e.currentTarget.value)} placeholder="empty: as this key (full access)" aria-describedby="scopes-help" /></label>
      <label>Expires in (days) <input name="days" type="number" min="1" value=${days} onInput=${(e) => setDays(e.currentTarget.value)} placeholder="never" /></label>
    </div>
    <p id="scopes-help" class="help">Scopes such as <code>bot:read</code> or <code>*:write</code>, separated by spaces.</p>
    <${ErrorNote} error=${error} />
    <button type="submit" class="primary">Create key</button>
  </form>`
}

function RollDialog ({ base, keyRecord, onRolled, onClose }) {
  const [grace, setGrace] = useState(86_400)
  return html`<${ConfirmDialog} title="Roll this key?" confirm="Roll" onClose=${onClose}
    onConfirm=${async () => {
      const rolled = await api('POST', `${base}/token/${encodeURIComponent(keyRecord.id)}/roll`, { graceSeconds: grace })
      onRolled(rolled.token)
    }}>
    <p>A new key replaces <code>${keyRecord.prefix}…</code>, with the same scopes.</p>
    <label>The old key keeps working for
      <select value=${grace} onChange=${(e) => setGrace(Number(e.currentTarget.value))}>
        ${GRACE.map(([seconds, label]) => html`<option value=${seconds}>${label}</option>`)}
      </select>
    </label>
  <//>`
}
