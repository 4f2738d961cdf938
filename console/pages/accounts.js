import { api, html, listAll, useLoad, useState, when } from '../lib.js'
import { ConfirmDialog, Dialog, ErrorNote } from '../ui.js'

const FLAGS = [
  ['impersonation', 'may not act as its children'],
  ['read-only', 'may only read'],
  ['suspended', 'may do nothing']
]

export function AccountsPage ({ me, accounts }) {
  const [editing, setEditing] = useState(null)
  const [deleting, setDeleting] = useState(null)
  const [restricting, setRestricting] = useState(null)
  const isAdmin = me.account.role === 'admin'
  return html`<section aria-labelledby="accounts-title">
    <h1 id="accounts-title">Sub-accounts</h1>
    <p>Child accounts of <strong>${me.account.email}</strong>. Each has its own keys and sessions, which you manage from the Keys and Sessions pages.</p>
    <${CreateAccount} onCreated=${accounts.reload} />
    <${ErrorNote} error=${accounts.error} />
    <div class="table-wrap"><table>
      <caption class="visually-hidden">Child accounts</caption>
      <thead><tr><th scope="col">E-mail</th><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${accounts.items.length === 0 && html`<tr><td colspan="5">No sub-accounts yet.</td></tr>`}
        ${accounts.items.map((c) => html`<tr key=${c.id} data-user-id=${c.id}>
          <td data-label="E-mail">${c.email}</td>
          <td data-label="Name">${c.name ?? html`<em>none</em>`}</td>
          <td data-label="Id"><code>${c.id}</code></td>
          <td data-label="Created">${when(c.createdAt)}</td>
          <td data-label="Actions" class="row-actions">
            <a href=${`#/keys?user=${encodeURIComponent(c.id)}`}>Keys</a>
            <button type="button" onClick=${() => setEditing(c)} aria-label=${`Edit ${c.email}`}>Edit</button>
            ${isAdmin && html`<button type="button" onClick=${() => setRestricting(c)} aria-label=${`Restrictions of ${c.email}`}>Restrictions</button>`}
            <button type="button" class="danger" onClick=${() => setDeleting(c)} aria-label=${`Delete ${c.email}`}>Delete</button>
          </td>
        </tr>`)}
      </tbody>
    </table></div>
    ${isAdmin && html`<${AccountTree} generation=${accounts.items} />`}
    ${editing !== null && html`<${EditAccount} account=${editing} onClose=${() => setEditing(null)} onSaved=${() => { setEditing(null); accounts.reload() }} />`}
    ${restricting !== null && html`<${Restrictions} account=${restricting} onClose=${() => setRestricting(null)} />`}
    ${deleting !== null && html`<${ConfirmDialog} title="Delete this sub-account?" confirm="Delete" onClose=${() => setDeleting(null)}
      onConfirm=${async () => { await api('POST', `/api/v1/partner/user/${encodeURIComponent(deleting.id)}/delete`); accounts.reload() }}>
      <p><strong>${deleting.email}</strong> and everything it holds stop working at once: its keys and sessions are refused.</p>
    <//>`}
  </section>`
}

/** Every account under `parentId` (null: the top-level ones), each with its own children, from the operator API. */
async function subtree (parentId) {
  const query = parentId === null ? '' : `?parentId=${encodeURIComponent(parentId)}`
  const accounts = await listAll(`/admin/v1/user/list${query}`)
  return await Promise.all(accounts.map(async (a) => ({ ...a, children: await subtree(a.id) })))
}

function Branch ({ accounts }) {
  return html`<ul>${accounts.map((a) => html`<li key=${a.id} data-tree-user=${a.id}>
    <span>${a.email}</span>${a.name !== null && ` (${a.name})`} <code>${a.id}</code>${a.role === 'admin' ? html` <span class="badge">admin</span>` : ''}${a.status !== 'active' ? html` <span class="badge">${a.status}</span>` : ''}
    ${a.children.length > 0 && html`<${Branch} accounts=${a.children} />`}
  </li>`)}</ul>`
}

/** Admins only: the whole account tree, parents first and their children nested under them. */
function AccountTree ({ generation }) {
  const tree = useLoad(() => subtree(null), [generation])
  return html`<section class="card tree" aria-labelledby="tree-title">
    <h2 id="tree-title">All accounts</h2>
    <${ErrorNote} error=${tree.error} />
    ${tree.data !== null && (tree.data.length === 0 ? html`<p>No accounts.</p>` : html`<${Branch} accounts=${tree.data} />`)}
  </section>`
}

function CreateAccount ({ onCreated }) {
  const [email, setEmail] = useState('')
  const [name, setName] = useState('')
  const [error, setError] = useState(null)
  const submit = async (event) => {
    event.preventDefault()
    setError(null)
    try {
      await api('POST', '/api/v1/partner/user/create', { email, name: name === '' ? null : name })
      setEmail(''); setName('')
      onCreated()
    } catch (e) { setError(e) }
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="create-account-title">
    <h2 id="create-account-title">Create a sub-account</h2>
    <div class="fields">
      <label>E-mail <input name="email" type="email" required value=${email} onInput=${(e) => setEmail(e.currentTarget.value)} /></label>
      <label>Name <input name="name" value=${name} onInput=${(e) => setName(e.currentTarget.value)} /></label>
    </div>
    <${ErrorNote} error=${error} />
    <button type="submit" class="primary">Create sub-account</button>
  </form>`
}

function EditAccount ({ account, onSaved, onClose }) {
  const [email, setEmail] = useState(account.email)
  const [name, setName] = useState(account.name ?? '')
  const [error, setError] = useState(null)
  const submit = async (event) => {
    event.preventDefault()
    try {
      await api('POST', `/api/v1/partner/user/${encodeURIComponent(account.id)}/update`, { email, name: name === '' ? null : name })
      onSaved()
    } catch (e) { setError(e) }
  }
  return html`<${Dialog} title="Edit sub-account" onClose=${onClose}>
    <form onSubmit=${submit}>
      <label>E-mail <input name="email" type="email" required value=${email} onInput=${(e) => setEmail(e.currentTarget.value)} /></label>
      <label>Name <input name="name" value=${name} onInput=${(e) => setName(e.currentTarget.value)} /></label>
      <${ErrorNote} error=${error} />
      <div class="actions"><button type="button" onClick=${onClose}>Cancel</button><button type="submit" class="primary">Save</button></div>
    </form>
  <//>`
}

/** Admins only: the operator API's restriction flags and the disabled state. */
function Restrictions ({ account, onClose }) {
  const [state, setState] = useState(null)
  const [error, setError] = useState(null)
  const path = `/admin/v1/user/${encodeURIComponent(account.id)}`
  if (state === null && error === null) {
    api('GET', `${path}/fetch`).then(setState, setError)
  }
  const toggle = (flag) => {
    const has = state.restrictions.includes(flag)
    setState({ ...state, restrictions: has ? state.restrictions.filter((f) => f !== flag) : [...state.restrictions, flag] })
  }
  const save = async (event) => {
    event.preventDefault()
    try {
      await api('POST', `${path}/update`, { restrictions: state.restrictions, disabled: state.status === 'disabled' })
      onClose()
    } catch (e) { setError(e) }
  }
  return html`<${Dialog} title=${`Restrictions of ${account.email}`} onClose=${onClose}>
    <${ErrorNote} error=${error} />
    ${state !== null && html`<form onSubmit=${save}>
      <fieldset><legend>Restriction flags</legend>
        ${FLAGS.map(([flag, help]) => html`<label class="check"><input type="checkbox" name=${flag} checked=${state.restrictions.includes(flag)} onChange=${() => toggle(flag)} /> <code>${flag}</code>: ${help}</label>`)}
      </fieldset>
      <label class="check"><input type="checkbox" name="disabled" checked=${state.status === 'disabled'} onChange=${(e) => setState({ ...state, status: e.currentTarget.checked ? 'disabled' : 'active' })} /> Disabled (every credential refused)</label>
      <div class="actions"><button type="button" onClick=${onClose}>Cancel</button><button type="submit" class="primary">Save</button></div>
    </form>`}
  <//>`
}
