/**
 * The console's Keys page (spark lines, key-age badges and filters with the
 * operator's thresholds) and Overview page, in Chromium against a real
 * server over real HTTP, at 1280×800 and 390 px wide.
 */
import t from 'tap'
import type { Page } from 'playwright-core'
import { bootstrap, issueKey } from '../../src/manage/index.js'
import { launchBrowser, noSeriousViolations, screenshot, signIn } from '../helpers/browser.js'
import { forwardAuth, listening } from '../helpers/console.js'
import { forEachDatabase } from '../helpers/databases.js'
import { auditServer } from '../helpers/audit.js'

const DAY_MS = 86_400_000
const UNKNOWN_KEY = 'sk-nosuchkey000000000000000000000000000000000000'

function unusedDays (page: Page): ReturnType<Page['getByRole']> {
  return page.getByRole('spinbutton', { name: 'Not used for days' })
}

/** The names of the keys the table shows now. */
async function shownKeys (page: Page): Promise<string[]> {
  const names = await page.locator('tr[data-key-id] td[data-label="Name"]').evaluateAll((cells) => cells.map((c) => c.firstChild?.textContent ?? ''))
  return names.map((n) => n.trim()).sort()
}

t.test('keys and overview in Chromium', (t) => forEachDatabase(t, async (t, _db, store) => {
  const browser = await launchBrowser(t)
  if (browser === null) return
  const server = await auditServer(t, store, { sinks: [{ type: 'postgres' }] }, { app: { keyAge: { unusedDays: 30, rotationDays: 60 } } })
  const base = await listening(server)
  const admin = await bootstrap(store, { email: 'admin@example.com' })
  const now = Date.now()
  const aged = async (name: string, createdDaysAgo: number, usedDaysAgo: number | null): Promise<string> => {
    const key = await issueKey(store, { userId: admin.userId, name })
    await store.database.query('UPDATE keygate_keys SET created_at = $2, last_used_at = $3 WHERE id = $1',
      [key.id, new Date(now - createdDaysAgo * DAY_MS), usedDaysAgo === null ? null : new Date(now - usedDaysAgo * DAY_MS)])
    return key.id
  }
  await aged('stale', 100, null)
  const rotate = await aged('rotate me', 70, 1)
  await aged('fresh', 2, null)
  // Three weeks of traffic for its spark line, up to yesterday.
  const history = Array.from({ length: 21 }, (_, i) => {
    const at = new Date(now - (i + 1) * DAY_MS)
    return { keyId: rotate, day: at.toISOString().slice(0, 10), requests: 10 + ((i * 7) % 13), denied: i % 3, lastUsedAt: at }
  })
  await server.audit.store.prepareDaysAround(now)
  await server.audit.store.addDailyUsage(history)
  const user = await server.account()
  const revoked = await server.account()
  for (let i = 0; i < 5; i++) t.equal(await forwardAuth(base, admin.token), 200)
  t.equal(await forwardAuth(base, user.token, '/admin/v1/user/create', 'POST'), 403)
  for (let i = 0; i < 2; i++) t.equal(await forwardAuth(base, UNKNOWN_KEY), 401)
  await store.revokeKey(revoked.keyId)
  server.authorizer.invalidate({ keyId: revoked.keyId })
  t.equal(await forwardAuth(base, revoked.token), 401, 'a revoked key presented again: a security event')
  await server.audit.flush()
  await server.audit.usage.flush()

  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => { errors.push(error.message) })
  page.on('console', (message) => { if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text()) })
  await signIn(page, base, admin.token)

  await t.test('keys: badges with the operator\'s thresholds', async (t) => {
    const row = (name: string) => page.locator('tr[data-key-id]', { hasText: name })
    await row('stale').waitFor()
    t.match(await row('stale').textContent(), /never used \(30\+ days\)[\s\S]*older than 60 days: rotation due/)
    t.match(await row('rotate me').textContent(), /older than 60 days: rotation due/)
    t.notMatch(await row('rotate me').textContent(), /not used|never used/, 'used yesterday')
    t.equal(await row('fresh').locator('.badge').count(), 0, 'two days old: nothing to flag yet')
    t.equal(await unusedDays(page).inputValue(), '30', 'the operator\'s threshold, not a default of the page')
    t.equal(await page.getByLabel('Rotation due after').inputValue(), '60')
  })

  await t.test('keys: a key\'s spark line and its text alternative', async (t) => {
    const own = page.locator('tr[data-key-id]', { hasText: admin.token.slice(0, 9) })
    const spark = own.getByRole('img')
    t.match(await spark.getAttribute('aria-label'), /: \d+ requests in the last 30 days, at most \d+ a day, \d+ today$/)
    t.ok(Number(await spark.getAttribute('data-requests')) >= 5, 'the forward-auth checks are counted')
    t.equal((await spark.locator('polyline').getAttribute('points'))?.split(' ').length, 30, 'a point a day')
    const busy = page.locator('tr[data-key-id]', { hasText: 'rotate me' }).getByRole('img')
    const requests = history.reduce((sum, d) => sum + d.requests, 0)
    t.equal(await busy.getAttribute('aria-label'), `rotate me: ${requests} requests in the last 30 days, at most 22 a day, 0 today`, 'the days of the usage table, in words')
    const idle = page.locator('tr[data-key-id]', { hasText: 'stale' }).getByRole('img')
    t.match(await idle.getAttribute('aria-label'), 'stale: no requests in the last 30 days')
  })

  await t.test('keys: filter by status, search by name and prefix', async (t) => {
    const status = page.getByLabel('Status')
    await status.selectOption('unused')
    t.same(await shownKeys(page), ['fresh', 'stale'].filter((n) => n === 'stale'), 'not used for 30 days')
    await status.selectOption('rotation')
    t.same(await shownKeys(page), ['rotate me', 'stale'])
    await unusedDays(page).fill('1')
    await status.selectOption('unused')
    t.same(await shownKeys(page), ['fresh', 'rotate me', 'stale'], 'the threshold is the person\'s to change: used yesterday is more than a day')
    await unusedDays(page).fill('30')
    await status.selectOption('attention')
    t.same(await shownKeys(page), ['rotate me', 'stale'])
    await status.selectOption('ok')
    t.equal((await shownKeys(page)).length, 2, 'the bootstrap key and fresh')
    await status.selectOption('all')
    await page.getByLabel('Search').fill('ROT')
    t.same(await shownKeys(page), ['rotate me'], 'by name, any case')
    await page.getByLabel('Search').fill(admin.token.slice(0, 9))
    t.equal(await page.locator('tr[data-key-id]').count(), 1, 'by prefix')
    await page.getByLabel('Search').fill('')
    await noSeriousViolations(t, page, 'the keys page with spark lines')
    await screenshot(page, 'keys-usage')
  })

  await t.test('overview: health, the policy revision, decision counts, buffer, security events', async (t) => {
    await page.getByRole('link', { name: 'Overview' }).click()
    const revision = page.getByTestId('policy-revision')
    await revision.waitFor()
    t.equal(await revision.locator('dd').textContent(), server.authorizer.policySource.status().revision)
    t.match(await page.getByTestId('store').textContent(), /answers/)
    // Counted before sign-in; the console's own calls are 200s (and the probe before sign-in a 401).
    t.equal(await page.getByTestId('hour-403').textContent(), '1')
    t.ok(Number(await page.getByTestId('hour-401').textContent()) >= 3, 'two unknown keys and the revoked one')
    t.ok(Number(await page.getByTestId('instance-401').textContent()) >= 3)
    t.equal(await page.getByTestId('instance-503').textContent(), '0')
    t.match(await page.getByTestId('buffer-depth').textContent(), /^\d+ of 10000$/)
    const event = page.locator('li[data-event="revoked_key_presented"]')
    await event.waitFor()
    t.match(await event.textContent(), /1\s*revoked_key_presented/)
    t.ok(await page.locator('tr.security', { hasText: 'presented again' }).count() === 1, 'the latest events, with what happened')
    await noSeriousViolations(t, page, 'the overview')
    await screenshot(page, 'overview')
    await page.getByRole('button', { name: 'Refresh now' }).click()
    await page.getByTestId('rate').filter({ hasText: /a minute/ }).waitFor()
    t.match(await page.getByTestId('rate').textContent(), /\d+\.\d a minute/, 'a rate once there are two answers')
  })

  await t.test('at 390 px wide', async (t) => {
    const phone = await browser.newPage()
    await phone.setViewportSize({ width: 390, height: 844 })
    // The same browser profile: signed in already, by the cookie.
    for (const [path, name] of [['keys', 'keys-usage'], ['overview', 'overview']]) {
      await phone.goto(`${base}/console/#/${path}`)
      await phone.locator(path === 'keys' ? 'svg.spark' : '[data-testid="policy-revision"]').first().waitFor()
      await noSeriousViolations(t, phone, `the ${name} page at 390 px`)
      t.equal(await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), 0, `${name}: nothing wider than the screen`)
      await screenshot(phone, `${name}-390px`)
    }
    await phone.close()
  })

  await t.test('the overview is an admin\'s: an account that is not has no such page', async (t) => {
    await page.getByRole('button', { name: 'Sign out' }).click()
    await signIn(page, base, user.token)
    t.equal(await page.getByRole('link', { name: 'Overview' }).count(), 0)
    await page.goto(`${base}/console/#/overview`)
    await page.getByRole('heading', { name: 'Not found' }).waitFor()
    const status = await page.evaluate(async () => (await fetch('/admin/v1/overview')).status)
    t.equal(status, 403, 'and the API refuses it')
  })

  t.same(errors, [], 'no script error and no CSP violation in the page')
}))
