/**
 * The console's Policy page in Chromium, against a real Keygate server over
 * real HTTP on a real store: Can I? (a parent acting as its child; a parent
 * restricted from impersonation, refused, with the Rego rule shown), the
 * who-can-do-what matrix, and impact analysis with a bundle the OPA CLI built.
 */
import t from 'tap'
import { bootstrap, createAccount, issueKey } from '../../src/manage/index.js'
import { auditServer } from '../helpers/audit.js'
import { launchBrowser, noSeriousViolations, screenshot, signIn } from '../helpers/browser.js'
import { forbidBotDeleteBundle } from '../helpers/bundles.js'
import { forEachDatabase } from '../helpers/databases.js'

t.test('the Policy page in Chromium', (t) => forEachDatabase(t, async (t, _db, store) => {
  const browser = await launchBrowser(t)
  if (browser === null) return
  const server = await auditServer(t, store, { sinks: [{ type: 'postgres' }] })
  const base = await server.app.listen({ host: '127.0.0.1', port: 0 })
  const admin = await bootstrap(store, { email: 'admin@example.com' })
  // The admin's children: one acted as, one read-only, one parent of its own restricted from impersonation.
  const child = await createAccount(store, { email: 'child@example.com', parentId: admin.userId })
  const readOnly = await createAccount(store, { email: 'reader@example.com', parentId: admin.userId })
  await store.addRestriction(readOnly.id, 'read-only')
  const parent = await createAccount(store, { email: 'parent@example.com', parentId: admin.userId })
  await issueKey(store, { userId: parent.id, name: 'parent key' }, new Date())
  const grandchild = await createAccount(store, { email: 'grandchild@example.com', parentId: parent.id })
  await store.addRestriction(parent.id, 'impersonation')

  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => { errors.push(error.message) })
  await signIn(page, base, admin.token)
  await page.getByRole('link', { name: 'Policy' }).click()
  await page.getByRole('heading', { name: 'Can I?' }).waitFor()

  await t.test('Can I? as the parent acting as its child: allowed', async (t) => {
    await page.getByLabel('Path').fill('/api/v1/bot/create')
    await page.getByLabel('Method').selectOption('POST')
    await page.getByLabel('Run as (id or e-mail, optional)').fill('child@example.com')
    await page.getByRole('button', { name: 'Check' }).click()
    const answer = page.getByTestId('answer')
    await answer.waitFor()
    t.equal(await answer.getAttribute('data-allowed'), 'true')
    const text = await answer.textContent() ?? ''
    t.match(text, 'allowed')
    t.match(text, '200 OK')
    t.match(text, `Subject${child.id}`)
    t.match(text, `Actor${admin.userId}`)
  })

  await t.test('a parent restricted from impersonation is refused, with the rule shown', async (t) => {
    const option = await page.locator('select[name="keyId"] option', { hasText: 'parent@example.com: parent key' }).getAttribute('value')
    await page.locator('select[name="keyId"]').selectOption(option ?? '')
    await page.getByLabel('Method').selectOption('GET')
    await page.getByLabel('Path').fill('/api/v1/bot/list')
    await page.getByLabel('Run as (id or e-mail, optional)').fill(grandchild.id)
    await page.getByRole('button', { name: 'Check' }).click()
    await page.locator('[data-testid="answer"][data-allowed="false"]').waitFor()
    const row = page.locator('tr[data-reason="impersonation_restricted"]')
    await row.waitFor()
    const text = await row.textContent() ?? ''
    t.match(text, 'impersonation_reasons', 'the rule')
    t.match(text, /policies\/keygate\/authz\/authz\.rego:\d+/, 'its file and line in the author\'s source')
    t.match(await page.getByTestId('answer').textContent(), '403 NOT_AUTHORIZED')
    await noSeriousViolations(t, page, 'the policy page with a refusal')
    await screenshot(page, 'policy-can-i')
  })

  await t.test('who can do what: the catalogue against self and each child', async (t) => {
    await page.getByLabel('Resources containing (optional)').fill('bot')
    await page.getByRole('button', { name: 'Show the matrix' }).click()
    const matrix = page.getByTestId('matrix')
    await matrix.waitFor()
    const cell = async (route: string, column: string): Promise<string | null> =>
      await matrix.locator(`tr[data-route="${route}"] td[data-column="${column}"]`).getAttribute('data-allowed')
    t.equal(await cell('GET /api/v1/bot/list', 'Self'), 'true')
    t.equal(await cell('POST /api/v1/bot/create', 'child@example.com'), 'true')
    t.equal(await cell('GET /api/v1/bot/list', 'reader@example.com'), 'true', 'a read-only child reads')
    t.equal(await cell('POST /api/v1/bot/create', 'reader@example.com'), 'false', 'and writes nothing')
    t.ok(await matrix.locator('tr.group th', { hasText: 'bot' }).count() > 0, 'grouped by resource')
    await noSeriousViolations(t, page, 'the matrix')
  })

  await t.test('impact analysis: a bundle that forbids bot/*/delete lists exactly the affected decisions', async (t) => {
    const decide = async (token: string, method: string, path: string): Promise<string> => {
      const res = await fetch(`${base}/v1/forward-auth`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-uri': path, 'x-forwarded-method': method } })
      return res.headers.get('x-keygate-decision-id') ?? ''
    }
    const childKey = await issueKey(store, { userId: child.id }, new Date())
    const affected = [await decide(admin.token, 'POST', '/api/v1/bot/b1/delete'), await decide(childKey.token, 'POST', '/api/v1/bot/b2/delete')]
    await decide(admin.token, 'GET', '/api/v1/bot/list')
    await decide(admin.token, 'POST', '/api/v1/dataset/d1/delete')
    await server.audit.flush()
    await page.getByLabel('Bundle').setInputFiles(forbidBotDeleteBundle(t))
    await page.getByRole('button', { name: 'Replay' }).click()
    const report = page.getByTestId('replay')
    await report.waitFor()
    const listed = await report.locator('tr[data-decision-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-decision-id')))
    t.same(listed.sort(), [...affected].sort(), 'exactly the bot deletions')
    t.match(await page.getByTestId('replay-summary').textContent(), /^2 of \d+ replayed decisions would change/)
    t.match(await report.textContent(), 'POST /api/v1/bot/{botId}/delete')
    t.match(await report.textContent(), 'bot_delete_forbidden')
    await noSeriousViolations(t, page, 'the impact analysis')
    await screenshot(page, 'policy-replay')
  })

  await t.test('on a 390-pixel-wide phone', async (t) => {
    await page.setViewportSize({ width: 390, height: 800 })
    await noSeriousViolations(t, page, 'the policy page at 390 px')
    t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390 + 1), 'no sideways scrolling of the page')
    await screenshot(page, 'policy-phone')
  })

  t.same(errors, [], 'no script error on the page')
}))
