import type { Store } from '../store/store.js'

/** A readiness probe must answer even when the store hangs. */
const STORE_PROBE_TIMEOUT_MS = 2000

/**
 * Whether the store answers a query in time: what `/readyz` and the gRPC
 * health service report (an authorizer cannot exist without a policy that
 * passed its canary evaluation, so the store is the one thing left to ask).
 */
export async function storeAnswers (store: Pick<Store, 'database'>, onFailure: (error: unknown) => void): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no answer within ${STORE_PROBE_TIMEOUT_MS} ms`)) }, STORE_PROBE_TIMEOUT_MS)
  })
  try {
    await Promise.race([store.database.query('SELECT 1'), timeout])
    return true
  } catch (error) {
    onFailure(error)
    return false
  } finally {
    clearTimeout(timer)
  }
}
