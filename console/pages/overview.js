import { api, html, useEffect, useRef, useState, when } from '../lib.js'
import { ErrorNote } from '../ui.js'

const REFRESH_MS = 10_000
const HOUR_MS = 3_600_000
// The statuses an operator watches: refused credentials, refused requests, faults.
const WATCHED = [[401, 'unauthenticated', 'bad'], [403, 'refused', 'warn'], [503, 'faults (fail closed)', 'bad']]

function countOf (rows, status) {
  return rows.find((r) => r.status === status)?.count ?? 0
}

function total (rows) {
  return rows.reduce((sum, r) => sum + r.count, 0)
}

/** Decisions a minute on this instance between the last two answers; null until there are two. */
function ratePerMinute (previous, current) {
  if (previous === null || current.at <= previous.at) return null
  const delta = total(current.instance.decisions) - total(previous.instance.decisions)
  return Math.max(0, delta) / ((current.at - previous.at) / 60_000)
}

function Figure ({ label, value, kind, testId }) {
  return html`<div class=${`figure ${kind ?? ''}`} data-testid=${testId}>
    <dt>${label}</dt><dd>${value}</dd>
  </div>`
}

/** Admins: is the instance well, which policy decides, how decisions go, and what the last hour raised. */
export function OverviewPage () {
  const [state, setState] = useState({ data: null, events: null, error: null })
  const [live, setLive] = useState(true)
  const previous = useRef(null)
  const [rate, setRate] = useState(null)

  const load = async () => {
    try {
      const data = await api('GET', '/admin/v1/overview')
      const from = data.at - HOUR_MS
      const events = data.lastHour === null ? null : await api('GET', `/admin/v1/audit/list?kind=security&from=${from}&take=20`)
      setRate(ratePerMinute(previous.current, data))
      previous.current = data
      setState({ data, events: events?.items ?? null, error: null })
    } catch (error) { setState((s) => ({ ...s, error })) }
  }
  useEffect(() => { load() }, [])
  useEffect(() => {
    if (!live) return
    const timer = setInterval(load, REFRESH_MS)
    return () => clearInterval(timer)
  }, [live])

  const { data, events, error } = state
  return html`<section aria-labelledby="overview-title">
    <h1 id="overview-title">Overview</h1>
    <div class="toolbar">
      <label class="check"><input type="checkbox" checked=${live} onChange=${(e) => setLive(e.currentTarget.checked)} /> Refresh every ${REFRESH_MS / 1000} s</label>
      <button type="button" onClick=${load}>Refresh now</button>
      ${data !== null && html`<span class="help">As of ${when(data.at)}</span>`}
    </div>
    <${ErrorNote} error=${error} />
    ${data !== null && html`<div class="panels">
      <section class="card" aria-labelledby="health-title">
        <h2 id="health-title">Instance health</h2>
        <dl class="figures">
          <${Figure} label="Store" value=${data.instance.store === 'ok' ? 'answers' : 'not answering'} kind=${data.instance.store === 'ok' ? 'good' : 'bad'} testId="store" />
          <${Figure} label="Version" value=${data.instance.version} />
          <${Figure} label="Running since" value=${when(Date.parse(data.instance.startedAt))} />
        </dl>
      </section>
      <section class="card" aria-labelledby="policy-title">
        <h2 id="policy-title">Policy</h2>
        <dl class="figures">
          <${Figure} label="Revision" value=${html`<code>${data.policy.revision || '(none)'}</code>`} testId="policy-revision" />
          <${Figure} label="Loaded" value=${when(Date.parse(data.policy.loadedAt))} />
          <${Figure} label="Reloads" value=${data.policy.reloads} />
          <${Figure} label="Refused bundles" value=${data.policy.failures} kind=${data.policy.failures > 0 ? 'warn' : ''}
            testId="policy-failures" />
          ${data.policy.lastFailureAt !== null && html`<${Figure} label="Last refused" value=${when(Date.parse(data.policy.lastFailureAt))} kind="warn" />`}
        </dl>
      </section>
      <${Decisions} data=${data} rate=${rate} />
      <${Buffer} log=${data.decisionLog} />
    </div>
    <${SecurityEvents} lastHour=${data.lastHour} events=${events} />`}
  </section>`
}

function Decisions ({ data, rate }) {
  const hour = data.lastHour?.decisions ?? null
  const instance = data.instance.decisions
  return html`<section class="card" aria-labelledby="decisions-title">
    <h2 id="decisions-title">Decisions</h2>
    <dl class="figures">
      <${Figure} label="Now, this instance" value=${rate === null ? 'measured at the next refresh' : `${rate.toFixed(1)} a minute`} testId="rate" />
      ${hour !== null && html`<${Figure} label="Last hour, every instance" value=${`${total(hour)} (${(total(hour) / 60).toFixed(1)} a minute)`} testId="hour-total" />`}
    </dl>
    <div class="table-wrap"><table class="compact">
      <caption>Denials and faults${hour !== null ? ' in the last hour, and since this instance started' : ' since this instance started'}</caption>
      <thead><tr><th scope="col">Status</th>${hour !== null && html`<th scope="col">Last hour</th>`}<th scope="col">This instance</th></tr></thead>
      <tbody>${WATCHED.map(([status, label, kind]) => html`<tr data-status=${status}>
        <th scope="row"><span class=${`badge ${kind}`}>${status}</span> ${label}</th>
        ${hour !== null && html`<td data-label="Last hour" data-testid=${`hour-${status}`}>${countOf(hour, status)}</td>`}
        <td data-label="This instance" data-testid=${`instance-${status}`}>${countOf(instance, status)}</td>
      </tr>`)}</tbody>
    </table></div>
  </section>`
}

function Buffer ({ log }) {
  if (log === null) {
    return html`<section class="card" aria-labelledby="buffer-title"><h2 id="buffer-title">Decision log</h2><p>Off (<code>KEYGATE_DECISION_LOG=off</code>).</p></section>`
  }
  const full = log.capacity === 0 ? 0 : Math.round((log.depth / log.capacity) * 100)
  return html`<section class="card" aria-labelledby="buffer-title">
    <h2 id="buffer-title">Decision-log buffer</h2>
    <p><label class="inline">Filled <meter min="0" max=${log.capacity} low=${log.capacity / 2} high=${log.capacity * 3 / 4} optimum="0" value=${log.depth}>${full}%</meter></label>
      <span data-testid="buffer-depth">${log.depth} of ${log.capacity}</span> entries (${full}%), to ${log.sinks.join(', ')}</p>
    <dl class="figures">
      <${Figure} label="Written" value=${log.written} />
      <${Figure} label="Waiting for room" value=${log.waiting} kind=${log.waiting > 0 ? 'bad' : ''} />
      <${Figure} label="Sampled out" value=${log.sampled} kind=${log.sampled > 0 ? 'warn' : ''} />
      <${Figure} label="Dropped" value=${log.dropped} kind=${log.dropped > 0 ? 'warn' : ''} />
      <${Figure} label="Lost" value=${log.lost} kind=${log.lost > 0 ? 'bad' : ''} />
    </dl>
    <p class="help">Allowed reads may be sampled or dropped under pressure; denials, impersonations and security events never are.</p>
  </section>`
}

function SecurityEvents ({ lastHour, events }) {
  if (lastHour === null) {
    return html`<section class="card" aria-labelledby="events-title"><h2 id="events-title">Security events of the last hour</h2>
      <p>The decision log is not kept in PostgreSQL: see <code>keygate_security_events_total</code> on <code>/metrics</code>.</p></section>`
  }
  return html`<section class="card" aria-labelledby="events-title">
    <h2 id="events-title">Security events of the last hour</h2>
    ${lastHour.securityEvents.length === 0
      ? html`<p data-testid="no-events">None.</p>`
      : html`<ul class="event-counts">${lastHour.securityEvents.map((e) => html`<li data-event=${e.event}><span class="badge bad">${e.count}</span> ${e.event}</li>`)}</ul>`}
    ${events !== null && events.length > 0 && html`<div class="table-wrap"><table>
      <caption>The latest ${events.length}</caption>
      <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">What happened</th></tr></thead>
      <tbody>${events.map((e) => html`<tr class="security" key=${e.id}>
        <td data-label="Time">${when(Date.parse(e.timestamp))}</td>
        <td data-label="Event">${e.event}</td>
        <td data-label="What happened">${e.msg ?? ''}</td>
      </tr>`)}</tbody>
    </table></div>`}
    <p><a href="#/audit">The audit</a> lists them all (kind: security event).</p>
  </section>`
}
