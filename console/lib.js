// The console's shared pieces: the view library (preact + htm, served from
// node_modules), the API client and small helpers. No build step.
import { h, render } from './vendor/preact.mjs'
import { useCallback, useEffect, useRef, useState } from './vendor/hooks.mjs'
import htm from './vendor/htm.mjs'

export const html = htm.bind(h)
export { render, useCallback, useEffect, useRef, useState }

let csrfToken = null

/** The session's CSRF token, sent with every state-changing call (the cookie alone is refused). */
export function setCsrfToken (token) { csrfToken = token }

export class ApiError extends Error {
  constructor (status, message, code) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** A call to Keygate's public API with the console cookie; the API's own error message on failure. */
export async function api (method, path, body) {
  const headers = { accept: 'application/json' }
  const init = { method, headers, credentials: 'same-origin' }
  if (method !== 'GET') {
    // A file (a policy bundle) goes as its bytes, anything else as JSON.
    const file = body instanceof Blob
    headers['content-type'] = file ? (body.type || 'application/octet-stream') : 'application/json'
    init.body = file ? body : JSON.stringify(body ?? {})
    if (csrfToken !== null) headers['x-keygate-csrf'] = csrfToken
  }
  const response = await fetch(path, init)
  const text = await response.text()
  let data = null
  try { data = text === '' ? null : JSON.parse(text) } catch { data = null }
  // The session timed out or was ended elsewhere: back to sign-in.
  if (response.status === 401 && !path.startsWith('/console/')) dispatchEvent(new Event('keygate:signed-out'))
  if (!response.ok) throw new ApiError(response.status, data?.message ?? `${response.status} ${response.statusText}`, data?.code)
  return data
}

/** Every item of a paged list (at most `pages` pages of 100). */
export async function listAll (path, pages = 10) {
  const items = []
  let cursor = null
  for (let i = 0; i < pages; i++) {
    const sep = path.includes('?') ? '&' : '?'
    const page = await api('GET', `${path}${sep}take=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)
    items.push(...page.items)
    cursor = page.cursor ?? null
    if (cursor === null) break
  }
  return items
}

export function when (ms) {
  if (ms === null || ms === undefined) return '—'
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
}

export const DAY_MS = 86_400_000

/** Loads with `load()` and reloads on `reload()`; errors shown, not thrown. */
export function useLoad (load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true })
  const [generation, setGeneration] = useState(0)
  useEffect(() => {
    let live = true
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => { if (live) setState({ data, error: null, loading: false }) },
      (error) => { if (live) setState({ data: null, error, loading: false }) }
    )
    return () => { live = false }
  }, [...deps, generation])
  return { ...state, reload: () => setGeneration((g) => g + 1) }
}
