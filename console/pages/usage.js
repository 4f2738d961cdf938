import { DAY_MS, html, listAll, useLoad, useState } from '../lib.js'
import { ErrorNote, OwnerPicker } from '../ui.js'

const WIDTH = 720
const HEIGHT = 160

/** The last `days` UTC days, oldest first, with the counts of `usage` (0 for a day without any). */
function series (usage, days) {
  const byDay = new Map(usage.map((d) => [d.day, d]))
  const out = []
  for (let i = days - 1; i >= 0; i--) {
    const day = new Date(Date.now() - i * DAY_MS).toISOString().slice(0, 10)
    const found = byDay.get(day)
    out.push({ day, requests: found?.requests ?? 0, denied: found?.denied ?? 0 })
  }
  return out
}

/** The day-by-day sum of several series of the same days. */
function sum (serieses, days) {
  return serieses.reduce((total, points) => total.map((p, i) => ({
    day: p.day, requests: p.requests + points[i].requests, denied: p.denied + points[i].denied
  })), series([], days))
}

function requestsOf (points) {
  return points.reduce((n, p) => n + p.requests, 0)
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

/**
 * Requests and denials per day, per account (the caller and its children) and per key of the
 * chosen account: one key list with `usageDays` per account, so it needs no operator API.
 */
export function UsagePage ({ me, accounts }) {
  const [owner, setOwner] = useState('')
  const [days, setDays] = useState(30)
  const owners = [{ id: '', email: me.account.email, base: '/api/v1' },
    ...accounts.items.map((c) => ({ id: c.id, email: c.email, base: `/api/v1/partner/user/${encodeURIComponent(c.id)}` }))]
  const usage = useLoad(async () => await Promise.all(owners.map(async (o) => {
    const keys = (await listAll(`${o.base}/token/list?usageDays=${days}`)).map((k) => ({ key: k, points: series(k.usage, days) }))
    return { owner: o, keys, points: sum(keys.map((k) => k.points), days) }
  })), [owners.map((o) => o.id).join(), days])
  const chosen = usage.data?.find((a) => a.owner.id === owner) ?? null
  return html`<section aria-labelledby="usage-title">
    <h1 id="usage-title">Usage</h1>
    <div class="toolbar">
      <label class="inline">Days <select value=${days} onChange=${(e) => setDays(Number(e.currentTarget.value))}>
        ${[7, 30, 90].map((n) => html`<option value=${n}>${n}</option>`)}
      </select></label>
    </div>
    <${ErrorNote} error=${usage.error ?? accounts.error} />
    ${usage.data !== null && html`
      <h2>Per account</h2>
      ${usage.data.map((a) => html`<div class="card" data-usage-account=${a.owner.id || 'me'}>
        <h3>${a.owner.email}</h3>
        <p>${requestsOf(a.points)} requests in the last ${a.points.length} days, ${a.points.at(-1).requests} today, by ${a.keys.length} ${a.keys.length === 1 ? 'key' : 'keys'}.</p>
        <${Chart} points=${a.points} label=${`All keys of ${a.owner.email}`} />
      </div>`)}
      <h2>Per key</h2>
      <div class="toolbar"><${OwnerPicker} accounts=${accounts} owner=${owner} onChange=${setOwner} /></div>
      ${chosen !== null && chosen.keys.length === 0 && html`<p>This account has no keys.</p>`}
      ${chosen?.keys.map(({ key, points }) => html`<div class="card" data-usage-key=${key.id}>
        <h3>${key.name ?? key.prefix} <code>${key.prefix}</code></h3>
        <p>${requestsOf(points)} requests in the last ${points.length} days, ${points.at(-1).requests} today.</p>
        <${Chart} points=${points} label=${`Key ${key.name ?? key.prefix}`} />
      </div>`)}`}
  </section>`
}
