/** The console's browser tests' shared steps (test/console/*.ts), besides signIn and noSeriousViolations in ./browser.ts. */
import type { Page } from 'playwright-core'
import type { AuditServer } from './audit.js'

export async function listening (server: AuditServer): Promise<string> {
  return await server.app.listen({ host: '127.0.0.1', port: 0 })
}

/** What forward-auth answers for this key, asked over HTTP the way a proxy asks. */
export async function forwardAuth (base: string, token: string, path = '/api/v1/bot/list', method = 'GET'): Promise<number> {
  const res = await fetch(`${base}/v1/forward-auth`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-uri': path, 'x-forwarded-method': method } })
  return res.status
}

/** The secret shown once in the dialog, after which the dialog is closed. */
export async function takeSecret (page: Page): Promise<string> {
  const secret = await page.getByTestId('secret').textContent() ?? ''
  await page.getByRole('button', { name: 'I have copied it, close' }).click()
  await page.getByTestId('secret').waitFor({ state: 'detached' })
  return secret
}
