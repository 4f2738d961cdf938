import type { RunAsValue } from '../credentials/parse.js'
import type { AccountFacts, RunAsRequest } from '../policy/input.js'
import type { AccountDirectory } from '../principal/accounts.js'

/**
 * Resolves every X-RunAs-* header to the account it names, as seen by the
 * caller. Every header is looked up the same way whatever the outcome, so a
 * refusal costs the same whether or not the account exists; the policy
 * decides what the facts mean.
 */
export async function resolveRunAs (
  accounts: AccountDirectory,
  caller: AccountFacts,
  runAs: RunAsValue[],
  /** performance.now() by which the store must have answered */
  deadline = performance.now() + 2_000
): Promise<RunAsRequest[]> {
  return await Promise.all(runAs.map(async ({ via, value, wellFormed }) => {
    if (!wellFormed) return { via, wellFormed, account: null }
    const account = via === 'user_id'
      ? await accounts.byId(value, deadline)
      : await accounts.childByEmail(caller.id, value, deadline)
    return { via, wellFormed, account }
  }))
}
