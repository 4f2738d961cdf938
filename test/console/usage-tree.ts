/**
 * The console's Usage page for an account that is not an admin (its own and
 * its children's keys, per key and per account, from the key lists'
 * `usageDays`) and the admins' account tree on the Sub-accounts page, in
 * Chromium against a real server over real HTTP.
 */
import t from 'tap'
import { bootstrap } from '../../src/manage/index.js'
import { launchBrowser, noSeriousViolations, screenshot, signIn } from '../helpers/browser.js'
import { forwardAuth, listening } from '../helpers/console.js'
import { forEachDatabase } from '../helpers/databases.js'
import { auditServer } from '../helpers/audit.js'

interface KeyList { items: Array<{ id: string; usage: Array<{ day: string; requests: number; denied: number }> }> }

t.test('usage for a parent and the admins\' account tree in Chromium', (t) => forEachDatabase(t, async (t, _db, store) => {
  const browser = await launchBrowser(t)
  if (browser === null) return
  const server = await auditServer(t, store, { sinks: [{ type: 'postgres' }] })
  const base = await listening(server)
  const admin = await bootstrap(store, { email: 'admin@example.com' })
  const parent = await server.account()
  const child = await server.account({ parentId: parent.id })
  const grandchild = await server.account({ parentId: child.id })
  for (let i = 0; i < 3; i++) t.equal(await forwardAuth(base, parent.token), 200)
  for (let i = 0; i < 2; i++) t.equal(await forwardAuth(base, child.token), 200)
  t.equal(await forwardAuth(base, child.token, '/admin/v1/user/create', 'POST'), 403, 'a denial of the child\'s')
  await server.audit.flush()
  await server.audit.usage.flush()

  const today = new Date().toISOString().slice(0, 10)
  const todayOf = async (path: string): Promise<{ requests: number; denied: number }> => {
    const res = await fetch(`${base}${path}?usageDays=1`, { headers: parent.headers })
    t.equal(res.status, 200, path)
    const list = await res.json() as KeyList
    const day = list.items[0]?.usage.find((d) => d.day === today)
    return { requests: day?.requests ?? 0, denied: day?.denied ?? 0 }
  }
  const own = await todayOf('/api/v1/token/list')
  const childs = await todayOf(`/api/v1/partner/user/${child.id}/token/list`)
  t.ok(own.requests >= 3, 'the API counts the parent\'s forward-auth checks')
  t.same(childs, { requests: 3, denied: 1 }, 'and the child\'s, with its denial')

  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => { errors.push(error.message) })
  page.on('console', (message) => { if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text()) })

  await t.test('usage: a parent that is not an admin sees its own and its children\'s', async (t) => {
    await signIn(page, base, parent.token)
    await page.getByRole('link', { name: 'Usage' }).click()
    const mine = page.locator('[data-usage-account="me"]')
    await mine.waitFor()
    t.match(await mine.textContent(), new RegExp(`${own.requests} requests in the last 30 days, ${own.requests} today, by 1 key`), 'the account\'s total, as the API counts it')
    const theChild = page.locator(`[data-usage-account="${child.id}"]`)
    t.match(await theChild.textContent(), /3 requests in the last 30 days, 3 today, by 1 key/)
    t.match(await theChild.locator('table tbody tr').last().textContent(), new RegExp(`${today}\\s*3\\s*1`), 'today\'s denial in the text alternative')
    t.equal(await page.locator(`[data-usage-account="${grandchild.id}"]`).count(), 0, 'a grandchild is its child\'s to see')
    const key = page.locator(`[data-usage-key="${parent.keyId}"]`)
    t.match(await key.textContent(), new RegExp(`${own.requests} requests in the last 30 days, ${own.requests} today`), 'per key')
    await page.getByLabel('Account').selectOption(child.id)
    const childKey = page.locator(`[data-usage-key="${child.keyId}"]`)
    await childKey.waitFor()
    t.match(await childKey.textContent(), /3 requests in the last 30 days, 3 today/, 'a child\'s key')
    await page.getByLabel('Days').selectOption('7')
    await page.locator('[data-usage-account="me"]', { hasText: 'in the last 7 days' }).waitFor()
    t.equal(await page.locator('[data-usage-account="me"] table tbody tr').count(), 7, 'a row a day')
    await noSeriousViolations(t, page, 'the usage page of a parent')
    await screenshot(page, 'usage-parent')
  })

  await t.test('sub-accounts: a parent sees no account tree, and the API refuses it', async (t) => {
    await page.getByRole('link', { name: 'Sub-accounts' }).click()
    await page.locator(`tr[data-user-id="${child.id}"]`).waitFor()
    t.equal(await page.getByRole('heading', { name: 'All accounts' }).count(), 0)
    t.equal(await page.evaluate(async () => (await fetch('/admin/v1/user/list')).status), 403)
    await page.getByRole('button', { name: 'Sign out' }).click()
  })

  await t.test('sub-accounts: an admin sees the whole tree, children nested under their parents', async (t) => {
    await signIn(page, base, admin.token)
    await page.getByRole('link', { name: 'Sub-accounts' }).click()
    const tree = page.getByRole('region', { name: 'All accounts' })
    const parentItem = tree.locator(`li[data-tree-user="${parent.id}"]`)
    await parentItem.waitFor()
    const top = await tree.locator(':scope > ul > li').evaluateAll((items) => items.map((li) => li.getAttribute('data-tree-user')))
    t.ok(top.includes(parent.id) && top.includes(admin.userId), 'the top-level accounts at the top')
    t.notOk(top.includes(child.id), 'a child is not at the top')
    t.equal(await parentItem.locator(`:scope > ul > li[data-tree-user="${child.id}"]`).count(), 1, 'the child in its parent\'s list')
    t.equal(await parentItem.locator(`:scope > ul > li[data-tree-user="${child.id}"] > ul > li[data-tree-user="${grandchild.id}"]`).count(), 1, 'and its child in its own')
    t.match(await parentItem.locator('> span').textContent(), parent.email)
    await noSeriousViolations(t, page, 'the account tree')
    await screenshot(page, 'account-tree')
  })

  await t.test('the list API: children of an account, a clear 404 for an unknown one', async (t) => {
    const list = async (query: string): Promise<{ status: number; body: { items?: Array<{ id: string }> } }> => {
      const res = await fetch(`${base}/admin/v1/user/list${query}`, { headers: { authorization: `Bearer ${admin.token}` } })
      return { status: res.status, body: await res.json() as { items?: Array<{ id: string }> } }
    }
    const children = await list(`?parentId=${child.id}`)
    t.equal(children.status, 200)
    t.same(children.body.items?.map((u) => u.id), [grandchild.id])
    t.equal((await list('?parentId=usr_nosuchaccount')).status, 404)
    t.equal((await list('?parentId=')).status, 400, 'an empty parent id is refused, not read as top-level')
  })

  t.same(errors, [], 'no script error and no CSP violation in the page')
}))
