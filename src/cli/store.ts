import type { Command } from 'commander'
import { bootstrap } from '../manage/index.js'
import type { Runner } from './context.js'
import type { Operations } from './operations.js'

export const operations: Operations = {
  // Opening the store applies the pending migrations (a running server's store has them all).
  'store.migrate': async () => ({ migrated: true }),
  'store.bootstrap': async ({ store }, p) => await bootstrap(store, { email: p.email as string, name: p.name as string | undefined })
}

export function register (program: Command, runner: Runner): void {
  program.command('migrate').description('apply pending store migrations (safe from several instances at once)')
    .action(async (_o: unknown, c: Command) => {
      await runner.run(c, 'store.migrate', {}, () => 'the store is up to date', { creates: true })
    })

  program.command('bootstrap').description('the first admin account and its key, on an empty store; prints {"userId","token"}')
    .requiredOption('--email <email>', 'the admin\'s e-mail address')
    .option('--name <name>', 'display name (default Administrator)')
    .action(async (o: { email: string; name?: string }, c: Command) => {
      // Always JSON: this is the one time the key is shown, and scripts read it.
      await runner.run(c, 'store.bootstrap', o, (r: unknown) => JSON.stringify(r), { creates: true })
    })
}
