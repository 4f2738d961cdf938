import { api, html, useEffect, useState, when } from '../lib.js'
import { Dialog, ErrorNote } from '../ui.js'

const FILTERS = [['decisionId', 'Decision id'], ['userId', 'User (subject or actor)'], ['keyId', 'Key or session id']]

export function AuditPage () {
  const [draft, setDraft] = useState({ decisionId: '', userId: '', keyId: '', status: '', kind: '', from: '', to: '' })
  const [filter, setFilter] = useState(draft)
  const [pages, setPages] = useState({ items: [], cursor: null, error: null })
  const [detail, setDetail] = useState(null)
  const [live, setLive] = useState(false)

  const query = (cursor) => {
    const q = new URLSearchParams({ take: '50' })
    for (const [name, value] of Object.entries(filter)) {
      if (value === '') continue
      q.set(name, name === 'from' || name === 'to' ? String(new Date(value).getTime()) : value)
    }
    if (cursor) q.set('cursor', cursor)
    return `/admin/v1/audit/list?${q}`
  }
  const load = async (cursor) => {
    try {
      const page = await api('GET', query(cursor))
      setPages((p) => ({ items: cursor ? [...p.items, ...page.items] : page.items, cursor: page.cursor ?? null, error: null }))
    } catch (error) { setPages({ items: [], cursor: null, error }) }
  }
  useEffect(() => { load(null) }, [filter])
  useEffect(() => {
    if (!live) return
    const timer = setInterval(() => load(null), 5000)
    return () => clearInterval(timer)
  }, [live, filter])

  const set = (name) => (e) => setDraft({ ...draft, [name]: e.currentTarget.value })
  return html`<section aria-labelledby="audit-title">
    <h1 id="audit-title">Audit</h1>
    <form class="card" onSubmit=${(e) => { e.preventDefault(); setFilter({ ...draft }) }} aria-label="Filters">
      <div class="fields">
        ${FILTERS.map(([name, label]) => html`<label>${label} <input name=${name} value=${draft[name]} onInput=${set(name)} /></label>`)}
        <label>Status <select name="status" value=${draft.status} onChange=${set('status')}>
          <option value="">any</option>${['200', '400', '401', '403', '503'].map((s) => html`<option value=${s}>${s}</option>`)}
        </select></label>
        <label>Kind <select name="kind" value=${draft.kind} onChange=${set('kind')}>
          <option value="">any</option><option value="decision">decision</option><option value="security">security event</option>
        </select></label>
        <label>From <input name="from" type="datetime-local" value=${draft.from} onInput=${set('from')} /></label>
        <label>To <input name="to" type="datetime-local" value=${draft.to} onInput=${set('to')} /></label>
      </div>
      <div class="actions">
        <button type="submit" class="primary">Apply filters</button>
        <label class="check"><input type="checkbox" checked=${live} onChange=${(e) => setLive(e.currentTarget.checked)} /> Live refresh</label>
      </div>
    </form>
    <${ErrorNote} error=${pages.error} />
    <div class="table-wrap"><table>
      <caption class="visually-hidden">Decision log, newest first</caption>
      <thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Request</th><th scope="col">Subject</th><th scope="col">Actor</th><th scope="col">Credential</th><th scope="col">Detail</th></tr></thead>
      <tbody>
        ${pages.items.length === 0 && html`<tr><td colspan="8">No entries.</td></tr>`}
        ${pages.items.map((e) => html`<tr key=${e.id} class=${e.kind === 'security' ? 'security' : ''} data-decision-id=${e.decision_id}>
          <td data-label="Time">${when(Date.parse(e.timestamp))}</td>
          <td data-label="Kind">${e.kind === 'security' ? html`<span class="badge bad">${e.event}</span>` : 'decision'}</td>
          <td data-label="Status">${e.status ?? '—'}</td>
          <td data-label="Request"><code>${e.request?.method ?? ''} ${e.request?.path ?? ''}</code></td>
          <td data-label="Subject"><code>${e.subject ?? '—'}</code></td>
          <td data-label="Actor"><code>${e.actor ?? '—'}</code></td>
          <td data-label="Credential">${e.credential_type ?? '—'} <code>${e.key_prefix ?? ''}</code></td>
          <td data-label="Detail"><button type="button" onClick=${() => setDetail(e)} aria-label=${`Detail of ${e.decision_id}`}>Detail</button></td>
        </tr>`)}
      </tbody>
    </table></div>
    ${pages.cursor !== null && html`<button type="button" onClick=${() => load(pages.cursor)}>Older entries</button>`}
    ${detail !== null && html`<${Dialog} title="Decision" onClose=${() => setDetail(null)}>
      <dl class="detail">
        <dt>Decision id</dt><dd><code>${detail.decision_id}</code></dd>
        <dt>Time</dt><dd>${detail.timestamp}</dd>
        <dt>Subject</dt><dd><code>${detail.subject ?? '—'}</code></dd>
        <dt>Actor</dt><dd><code>${detail.actor ?? '—'}</code>${detail.impersonated ? ' (impersonating)' : ''}</dd>
        <dt>Request</dt><dd><code>${detail.request?.method} ${detail.request?.path}</code> over ${detail.request?.scheme ?? '—'}</dd>
        <dt>Status</dt><dd>${detail.status ?? '—'} ${detail.code ?? ''}</dd>
        <dt>Policy revision</dt><dd><code>${detail.bundles?.keygate?.revision ?? '—'}</code></dd>
        <dt>Reasons</dt><dd>${(detail.result?.reasons ?? []).length === 0 && (detail.reason_codes ?? []).length === 0 ? 'none' : html`<ul>${(detail.result?.reasons ?? detail.reason_codes.map((code) => ({ code }))).map((r) => html`<li><code>${r.code}</code> ${r.msg ?? ''}</li>`)}</ul>`}</dd>
        ${detail.msg && html`<dt>Event</dt><dd>${detail.msg}</dd>`}
      </dl>
      <div class="actions"><button type="button" class="primary" onClick=${() => setDetail(null)}>Close</button></div>
    <//>`}
  </section>`
}
