import { html, useEffect, useRef, useState } from './lib.js'

/** A modal dialog (the native element: focus is trapped and Escape closes it). */
export function Dialog ({ title, onClose, children }) {
  const ref = useRef(null)
  const id = useRef(`dialog-${Math.random().toString(36).slice(2)}`).current
  useEffect(() => {
    const dialog = ref.current
    dialog.showModal()
    const cancel = (event) => { event.preventDefault(); onClose() }
    dialog.addEventListener('cancel', cancel)
    return () => { dialog.removeEventListener('cancel', cancel); if (dialog.open) dialog.close() }
  }, [])
  return html`<dialog ref=${ref} aria-labelledby=${id}>
    <h2 id=${id}>${title}</h2>
    ${children}
  </dialog>`
}

export function ErrorNote ({ error }) {
  if (error === null || error === undefined) return null
  return html`<p class="error" role="alert">${error.status === 403 ? 'Refused: ' : ''}${error.message}</p>`
}

/** A secret shown once: copy it now, it is gone when the dialog closes. */
export function SecretDialog ({ title, secret, onClose }) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try { await navigator.clipboard.writeText(secret); setCopied(true) } catch { setCopied(false) }
  }
  return html`<${Dialog} title=${title} onClose=${onClose}>
    <p class="warning" role="note"><strong>Copy this secret now.</strong> It is shown only once: Keygate keeps only its hash and cannot show it again.</p>
    <p><code class="secret" data-testid="secret">${secret}</code></p>
    <div class="actions">
      <button type="button" onClick=${copy}>${copied ? 'Copied' : 'Copy'}</button>
      <button type="button" class="primary" onClick=${onClose}>I have copied it, close</button>
    </div>
  <//>`
}

export function ConfirmDialog ({ title, children, confirm, onConfirm, onClose }) {
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)
  const go = async () => {
    setBusy(true)
    try { await onConfirm(); onClose() } catch (e) { setError(e); setBusy(false) }
  }
  return html`<${Dialog} title=${title} onClose=${onClose}>
    ${children}
    <${ErrorNote} error=${error} />
    <div class="actions">
      <button type="button" onClick=${onClose}>Cancel</button>
      <button type="button" class="danger" disabled=${busy} onClick=${go}>${confirm}</button>
    </div>
  <//>`
}

/** Whose records a page shows: the signed-in account or one of its children. */
export function OwnerPicker ({ accounts, owner, onChange }) {
  return html`<label class="inline">Account
    <select value=${owner} onChange=${(e) => onChange(e.currentTarget.value)}>
      <option value="">My account</option>
      ${accounts.items.map((c) => html`<option value=${c.id}>${c.email}${c.name ? ` (${c.name})` : ''}</option>`)}
    </select>
  </label>`
}
