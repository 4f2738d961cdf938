/**
 * Debian's Chromium (scripts/install-browser.sh), driven by playwright-core,
 * which never downloads a browser of its own:
 *
 *   t.test('…', async (t) => {
 *     const browser = await launchBrowser(t)
 *     if (browser === null) return
 *     const page = await browser.newPage()
 *   })
 *
 * Without /usr/bin/chromium the test is skipped, and with CI=true it fails,
 * as for every real part (see requires.ts). Each browser gets a fresh profile
 * folder, removed when the test ends. Screenshots go to .browser-screenshots/
 * (git-ignored).
 */
import { accessSync, constants, mkdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { tempDir } from './temp.js'

export const CHROMIUM = '/usr/bin/chromium'
export const SCREENSHOTS = fileURLToPath(new URL('../../.browser-screenshots/', import.meta.url))

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]

function chromiumPresent (): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** A browser with a fresh profile, closed (and its profile removed) at the end of t; null when t was skipped. */
export async function launchBrowser (t: Test, viewport = { width: 1280, height: 800 }): Promise<BrowserContext | null> {
  if (!chromiumPresent()) {
    const why = `${CHROMIUM} is missing (scripts/install-browser.sh installs it)`
    if (process.env.CI === 'true') t.fail(`CI=true: ${why}; a test that needs it may not be skipped`)
    else t.plan(0, why)
    return null
  }
  // tempDir removes the profile after the teardown below has closed the browser.
  const profile = tempDir(t, 'chromium')
  // A persistent context is how playwright passes --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport
  })
  t.teardown(async () => {
    await context.close()
  })
  return context
}

export async function screenshot (page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

let axeSource: Promise<string> | undefined

/** axe-core's serious and critical violations on the page (injected by evaluate: the console's CSP allows no foreign script). */
export async function seriousViolations (page: Page): Promise<Array<{ id: string; impact: string; nodes: string[] }>> {
  axeSource ??= readFile(fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url)), 'utf8')
  // A string is evaluated by the DevTools protocol, to which the page's CSP does not apply.
  await page.evaluate(await axeSource)
  return await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: () => Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> } }).axe
    const result = await axe.run()
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }))
  })
}

export async function noSeriousViolations (t: Test, page: Page, name: string): Promise<void> {
  t.same(await seriousViolations(page), [], `axe-core: no serious or critical violation on ${name}`)
}

/** Signs in to the console at `base` with a secret key, and waits for the first page. */
export async function signIn (page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/console/`)
  await page.getByLabel('Secret key').fill(token)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Secret keys' }).waitFor()
}
