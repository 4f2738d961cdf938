import { api, DAY_MS, html, listAll, useLoad, useState } from '../lib.js'
import { ErrorNote, OwnerPicker } from '../ui.js'

const WIDTH = 720
const HEIGHT = 160

/** The last `days` UTC days, oldest first, with the report's counts (0 for a day without any). */
function series (report, days) {
  const byDay = new Map(report.days.map((d) => [d.day, d]))
  const out = []
  for (let i = days - 1; i >= 0; i--) {
    const day = new Date(Date.now() - i * DAY_MS).toISOString().slice(0, 10)
    const found = byDay.get(day)
    out.push({ day, requests: found?.requests ?? 0, denied: found?.denied ?? 0 })
  }
  return out
}

/** Requests (and, darker, denials) per day as bars; the same numbers in a table for screen readers. */
function Chart ({ points, label }) {
  const max = Math.max(1, ...points.map((p) => p.requests))
  const step = WIDTH / points.length
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label=${label}>
      ${points.map((p, i) => {
        const h = (p.requests / max) * (HEIGHT - 10)
        const d = (p.denied / max) * (HEIGHT - 10)
        return html`<g>
          <title>${p.day}: ${p.requests} requests, ${p.denied} denied</title>
          <rect class="bar" x=${i * step + 1} y=${HEIGHT - h} width=${Math.max(1, step - 2)} height=${h} />
          <rect class="bar denied" x=${i * step + 1} y=${HEIGHT - d} width=${Math.max(1, step - 2)} height=${d} />
        </g>`
      })}
    </svg>
    <figcaption>${label}: at most ${max} requests a day. Darker: denied.</figcaption>
    <table class="visually-hidden"><caption>${label}</caption>
      <thead><tr><th scope="col">Day</th><th scope="col">Requests</th><th scope="col">Denied</th></tr></thead>
      <tbody>${points.map((p) => html`<tr><td>${p.day}</td><td>${p.requests}</td><td>${p.denied}</td></tr>`)}</tbody>
    </table>
  </figure>`
}

/** Admins: requests and denials per day, per key, from the operator API's key usage. */
export function UsagePage ({ accounts }) {
  const [owner, setOwner] = useState('')
  const [days, setDays] = useState(30)
  const base = owner === '' ? '/api/v1' : `/api/v1/partner/user/${encodeURIComponent(owner)}`
  const usage = useLoad(async () => {
    const keys = await listAll(`${base}/token/list`)
    const reports = await Promise.all(keys.map(async (k) => ({ key: k, report: await api('GET', `/admin/v1/key/${encodeURIComponent(k.id)}/usage?days=${days}`) })))
    return reports
  }, [base, days])
  const total = usage.data === null
    ? []
    : usage.data.reduce((sum, { report }) => {
      series(report, days).forEach((p, i) => {
        sum[i] = sum[i] ?? { day: p.day, requests: 0, denied: 0 }
        sum[i].requests += p.requests
        sum[i].denied += p.denied
      })
      return sum
    }, [])
  return html`<section aria-labelledby="usage-title">
    <h1 id="usage-title">Usage</h1>
    <div class="toolbar">
      <${OwnerPicker} accounts=${accounts} owner=${owner} onChange=${setOwner} />
      <label class="inline">Days <select value=${days} onChange=${(e) => setDays(Number(e.currentTarget.value))}>
        ${[7, 30, 90].map((n) => html`<option value=${n}>${n}</option>`)}
      </select></label>
    </div>
    <${ErrorNote} error=${usage.error} />
    ${usage.data !== null && html`
      <h2>The account</h2>
      <${Chart} points=${total} label="All keys of the account" />
      <h2>Per key</h2>
      ${usage.data.map(({ key, report }) => html`<div class="card" data-usage-key=${key.id}>
        <h3>${key.name ?? key.prefix} <code>${key.prefix}</code></h3>
        <p>${report.requestCount} requests in all.</p>
        <${Chart} points=${series(report, days)} label=${`Key ${key.name ?? key.prefix}`} />
      </div>`)}`}
  </section>`
}
