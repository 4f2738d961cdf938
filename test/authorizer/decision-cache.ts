/**
 * The policy engine's decision cache is dropped by every invalidation: the
 * authorizer's invalidate() and a change announced by the store (any instance).
 */
import t from 'tap'
import { createAccount, issueKey } from '../../src/manage/index.js'
import { testDatabases } from '../helpers/databases.js'
import { sharedInstances } from '../helpers/instances.js'
import { until } from '../helpers/until.js'

for (const driver of testDatabases()) {
  t.test(`${driver.name}: invalidate() and store changes clear the decision cache`, async (t) => {
    const { setup, instances } = await sharedInstances(t, driver, 1)
    const { authorizer } = instances[0] as (typeof instances)[number]
    const engine = authorizer.policy
    let cleared = 0
    const clear = engine.clearDecisions.bind(engine)
    engine.clearDecisions = () => { cleared++; clear() }
    t.teardown(() => { delete (engine as { clearDecisions?: unknown }).clearDecisions })

    authorizer.invalidate('all')
    t.equal(cleared, 1, "invalidate('all')")
    authorizer.invalidate({ userId: 'usr_00000000000000000000' })
    t.equal(cleared, 2, 'invalidate({ userId })')

    const user = await createAccount(setup, { email: 'cache@example.com' })
    await issueKey(setup, { userId: user.id })
    await until(() => cleared >= 4, 5_000) // the account and the key, announced by the store
    t.pass('store changes clear it too')
  })
}
