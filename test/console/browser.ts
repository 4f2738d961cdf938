/**
 * The console in a real browser (Debian's Chromium through playwright-core),
 * against a real Keygate server over real HTTP on a real store: every flow
 * goes through the public API and the policy, as a person's would.
 */
import t from 'tap'
import { bootstrap } from '../../src/manage/index.js'
import { launchBrowser, noSeriousViolations, screenshot, signIn } from '../helpers/browser.js'
import { forwardAuth, listening, takeSecret } from '../helpers/console.js'
import { forEachDatabase } from '../helpers/databases.js'
import { auditServer } from '../helpers/audit.js'

const XSS = '<img src=x onerror="window.__xss=1">'

t.test('the console in Chromium', (t) => forEachDatabase(t, async (t, _db, store) => {
  const browser = await launchBrowser(t)
  if (browser === null) return
  let offsetMs = 0
  const clock = (): number => Date.now() + offsetMs
  // Long console timeouts: the test moves the clock past key grace periods.
  const server = await auditServer(t, store, { sinks: [{ type: 'postgres' }] }, { clock, app: { console: { idleSeconds: 86_400, lifetimeSeconds: 7 * 86_400 } } })
  const base = await listening(server)
  const admin = await bootstrap(store, { email: 'admin@example.com' })
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => { errors.push(error.message) })
  // Refusals the flows ask for (401 before sign-in, 403 without CSRF) are logged as failed loads: not errors of the page.
  page.on('console', (message) => { if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text()) })

  await t.test('sign in with the bootstrap key', async (t) => {
    await page.goto(`${base}/console/`)
    await noSeriousViolations(t, page, 'the sign-in page')
    await screenshot(page, 'sign-in')
    await signIn(page, base, admin.token)
    t.equal(await page.getByTestId('who').textContent(), 'admin@example.com')
    const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + location.href)
    t.notOk(storage.includes(admin.token), 'the key is kept in no storage and no URL')
    const [cookie] = await browser.cookies(base)
    t.match(cookie, { name: 'keygate_console', httpOnly: true, sameSite: 'Strict', secure: false, path: '/' }, 'the cookie\'s flags')
    t.notOk(await page.evaluate(() => document.cookie.includes('keygate_console')), 'scripts cannot read it')
  })

  let created = ''
  await t.test('create a key, see it once, use it through forward-auth', async (t) => {
    await page.getByLabel('Name').fill(XSS)
    await page.getByRole('button', { name: 'Create key' }).click()
    created = await takeSecret(page)
    t.match(created, /^sk-/)
    t.equal(await forwardAuth(base, created), 200, 'the new key works')
    const row = page.locator('tr', { hasText: created.slice(0, 9) })
    await row.waitFor()
    t.equal(await row.locator('td').first().locator('img').count(), 0, 'a key name is text, not markup')
    t.match(await row.textContent(), XSS)
    t.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, 'nothing ran')
    t.notOk((await page.content()).includes(created), 'the secret is gone from the page once closed')
    await noSeriousViolations(t, page, 'the keys page')
    await screenshot(page, 'keys')
  })

  await t.test('roll it: the old key works through the grace period', async (t) => {
    await page.getByRole('button', { name: `Roll ${XSS}` }).click()
    await page.getByLabel('The old key keeps working for').selectOption('3600')
    await page.getByRole('button', { name: 'Roll', exact: true }).click()
    const rolled = await takeSecret(page)
    t.not(rolled, created)
    t.equal(await forwardAuth(base, rolled), 200, 'the new key works')
    t.equal(await forwardAuth(base, created), 200, 'and the old one, for the grace period')
    offsetMs += 3601_000
    t.equal(await forwardAuth(base, created), 401, 'not after it')

    await t.test('revoke it: the next forward-auth call is a 401', async (t) => {
      const row = page.locator('tr', { hasText: rolled.slice(0, 9) })
      await row.getByRole('button', { name: /^Revoke/ }).click()
      await noSeriousViolations(t, page, 'the revoke confirmation')
      await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click()
      await row.waitFor({ state: 'detached' })
      t.equal(await forwardAuth(base, rolled), 401)
    })
  })

  await t.test('create a child, and a key for it', async (t) => {
    await page.getByRole('link', { name: 'Sub-accounts' }).click()
    await page.getByLabel('E-mail').fill('child@example.com')
    await page.getByLabel('Name').fill(XSS)
    await page.getByRole('button', { name: 'Create sub-account' }).click()
    const row = page.locator('tr', { hasText: 'child@example.com' })
    await row.waitFor()
    t.equal(await row.locator('img').count(), 0, 'an account name is text')
    await noSeriousViolations(t, page, 'the sub-accounts page')
    await screenshot(page, 'sub-accounts')
    const child = await server.store.findChildByEmail(admin.userId, 'child@example.com')
    t.ok(child)

    await row.getByRole('link', { name: 'Keys' }).click()
    await page.getByRole('heading', { name: 'Secret keys' }).waitFor()
    t.equal(await page.getByLabel('Account').inputValue(), child?.id, 'the child\'s keys')
    await page.getByLabel('Name').fill('child key')
    await page.getByRole('button', { name: 'Create key' }).click()
    const childKey = await takeSecret(page)
    const res = await fetch(`${base}/v1/forward-auth`, { headers: { authorization: `Bearer ${childKey}`, 'x-forwarded-uri': '/api/v1/bot/list' } })
    t.equal(res.status, 200)
    t.equal(res.headers.get('x-keygate-user-id'), child?.id, 'the key is the child\'s')
    t.equal(res.headers.get('x-keygate-actor-id'), admin.userId, 'minted by its parent')
  })

  await t.test('restriction flags, for an admin', async (t) => {
    await page.getByRole('link', { name: 'Sub-accounts' }).click()
    await page.getByRole('button', { name: 'Restrictions of child@example.com' }).click()
    await page.getByRole('checkbox', { name: /read-only/ }).check()
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click()
    await page.getByRole('dialog').waitFor({ state: 'detached' })
    const child = (await server.store.findChildByEmail(admin.userId, 'child@example.com'))
    t.same(child?.restrictions, ['read-only'])
  })

  await t.test('sessions: mint with allowedRoutes, the glob tester agrees with the API', async (t) => {
    await page.getByRole('link', { name: 'Sessions' }).click()
    await page.getByLabel('Allowed routes, one glob a line').fill('bot/**\n!bot/*/delete')
    const probes = ['GET /api/v1/bot/list', 'POST /api/v1/bot/b1/delete', 'GET /api/v1/conversation/list', 'POST /api/v1/bot/b1/update']
    await page.getByLabel('Routes to try, one a line (method and path)').fill(probes.join('\n'))
    await noSeriousViolations(t, page, 'the sessions page')
    await screenshot(page, 'sessions')
    await page.getByRole('button', { name: 'Mint session token' }).click()
    const token = await page.getByTestId('secret').textContent() ?? ''
    for (const probe of probes) {
      const [method, path] = probe.split(' ') as [string, string]
      const shown = await page.locator(`li[data-path="${path}"]`).getAttribute('data-allowed')
      const answer = await forwardAuth(base, token, path, method)
      t.equal(shown === 'true', answer === 200, `${probe}: the tester says ${shown}, the API ${answer}`)
    }
    await takeSecret(page)
    const rows = page.locator('tr[data-session-id]')
    await rows.first().waitFor()
    t.equal(await rows.count(), 1)
    await rows.first().getByRole('button', { name: /^End/ }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'End session' }).click()
    await rows.first().waitFor({ state: 'detached' })
    t.equal(await forwardAuth(base, token), 401, 'an ended session is refused')
  })

  await t.test('audit: an impersonated decision with actor and subject', async (t) => {
    const child = await server.store.findChildByEmail(admin.userId, 'child@example.com')
    const res = await fetch(`${base}/v1/forward-auth`, { headers: { authorization: `Bearer ${admin.token}`, 'x-runas-user-id': child?.id ?? '', 'x-forwarded-uri': '/api/v1/bot/list' } })
    t.equal(res.status, 200)
    await server.audit.flush()
    await page.getByRole('link', { name: 'Audit' }).click()
    await page.getByLabel('User (subject or actor)').fill(child?.id ?? '')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    const row = page.locator('tr[data-decision-id]', { hasText: '/api/v1/bot/list' }).first()
    await row.waitFor()
    t.match(await row.textContent(), child?.id)
    t.match(await row.textContent(), admin.userId)
    await noSeriousViolations(t, page, 'the audit page')
    await screenshot(page, 'audit')
    await row.getByRole('button', { name: /^Detail/ }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByText('Policy revision').waitFor()
    t.match(await dialog.textContent(), /impersonating/)
    await noSeriousViolations(t, page, 'an audit entry')
    await dialog.getByRole('button', { name: 'Close' }).click()
  })

  await t.test('usage: requests per day, per key', async (t) => {
    await page.getByRole('link', { name: 'Usage' }).click()
    const card = page.locator('[data-usage-key]', { hasText: admin.token.slice(0, 9) })
    await card.waitFor()
    t.match(await card.textContent(), /[1-9]\d* requests in the last 30 days/, 'the bootstrap key\'s requests are counted')
    await noSeriousViolations(t, page, 'the usage page')
    await screenshot(page, 'usage')
  })

  await t.test('a state-changing call without the CSRF token is refused', async (t) => {
    const status = await page.evaluate(async () => (await fetch('/api/v1/token/create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status)
    t.equal(status, 403)
  })

  await t.test('the console cookie is refused as a Bearer credential', async (t) => {
    const [cookie] = await browser.cookies(base)
    const res = await fetch(`${base}/api/v1/token/list`, { headers: { authorization: `Bearer ${cookie?.value}` } })
    t.equal(res.status, 401)
  })

  await t.test('after sign-out the cookie is dead on the server', async (t) => {
    const [cookie] = await browser.cookies(base)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('Secret key').waitFor()
    const res = await fetch(`${base}/api/v1/token/list`, { headers: { cookie: `keygate_console=${cookie?.value}` } })
    t.equal(res.status, 401)
  })

  await t.test('a phone-sized screen', async (t) => {
    const phone = await browser.newPage()
    await phone.setViewportSize({ width: 390, height: 844 })
    await signIn(phone, base, admin.token)
    await noSeriousViolations(t, phone, 'the keys page at 390 px')
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    t.equal(overflow, 0, 'nothing wider than the screen')
    await screenshot(phone, 'keys-390px')
  })

  t.same(errors, [], 'no script error and no CSP violation in the page')
}))
