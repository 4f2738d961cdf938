import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { configWarnings, loadConfig, type Config } from '../config/index.js'
import { PolicyEngine } from '../policy/engine.js'
import { ExitCode, type Runner } from './context.js'
import { opaBinary } from './policy.js'
import type { Operations } from './operations.js'

type Status = 'ok' | 'warn' | 'fail'
interface Check { check: string; status: Status; detail: string; fix?: string }

export const operations: Operations = {
  'store.status': async ({ store }) => ({ driver: store.database.driver, users: await store.countUsers() })
}

/** `keygate doctor`: the configuration, the store, the policy bundle and the OPA CLI, each with what to do about it. */
export function register (program: Command, runner: Runner): void {
  program.command('doctor').description('check the configuration, the store, the policy bundle and the OPA CLI, and say what to fix')
    .action(async (_o: unknown, c: Command) => {
      const checks: Check[] = []
      let config: Config | undefined
      try {
        config = loadConfig(runner.io.env)
        const warnings = configWarnings(runner.io.env)
        checks.push(warnings.length === 0
          ? { check: 'configuration', status: 'ok', detail: 'every KEYGATE_* variable is valid' }
          : { check: 'configuration', status: 'warn', detail: warnings.join('; '), fix: 'rename or unset those variables' })
      } catch (error) {
        checks.push({ check: 'configuration', status: 'fail', detail: (error as Error).message.replace(/\n\s*/g, ' '), fix: 'correct those variables (docs/configuration.md)' })
      }
      config ??= runner.config(c)
      checks.push(await storeCheck(runner, c), await bundleCheck(config), await opaCheck(config))
      runner.print(c, { ok: checks.every((k) => k.status !== 'fail'), checks }, () => checks.map((k) =>
        `${k.status.toUpperCase().padEnd(4)}  ${k.check}: ${k.detail}${k.fix === undefined ? '' : `\n      fix: ${k.fix}`}`).join('\n'))
      if (checks.some((k) => k.status === 'fail')) throw new ExitCode(1)
    })
}

async function storeCheck (runner: Runner, c: Command): Promise<Check> {
  try {
    const { driver, users } = await runner.call(c, 'store.status', {}) as { driver: string; users: number }
    if (users === 0) {
      return { check: 'store', status: 'warn', detail: `${driver}: reachable, migrated, no accounts yet`, fix: 'keygate bootstrap --email you@example.com (prints the admin key once)' }
    }
    return { check: 'store', status: 'ok', detail: `${driver}: reachable, migrated, ${users} accounts` }
  } catch (error) {
    const message = (error as Error).message
    return {
      check: 'store',
      status: 'fail',
      detail: message,
      fix: /no embedded store/.test(message)
        ? 'npm start (or keygate bootstrap) creates it here'
        : 'check KEYGATE_DATABASE_URL (server reachable, credentials, database exists), or stop the process that holds the embedded store'
    }
  }
}

async function bundleCheck (config: Config): Promise<Check> {
  const bundle = config.policyBundle
  if (/^https?:\/\//i.test(bundle)) return { check: 'bundle', status: 'ok', detail: `${bundle} (a bundle server: fetched by the server, not here)` }
  if (!existsSync(bundle)) return { check: 'bundle', status: 'fail', detail: `${bundle} does not exist`, fix: 'npm run build (or keygate policy build)' }
  try {
    const engine = await PolicyEngine.fromBundle(bundle)
    return { check: 'bundle', status: 'ok', detail: `${bundle} loads (revision ${engine.revision || '(none)'})` }
  } catch (error) {
    return { check: 'bundle', status: 'fail', detail: `${bundle}: ${(error as Error).message}`, fix: 'rebuild it: keygate policy build' }
  }
}

async function opaCheck (config: Config): Promise<Check> {
  const opa = opaBinary(config.opa)
  const version = await new Promise<string | null>((resolve) => {
    execFile(opa, ['version'], { timeout: 10_000 }, (error, stdout) => { resolve(error === null ? stdout.split('\n')[0] ?? '' : null) })
  })
  return version === null
    ? { check: 'opa', status: 'warn', detail: `${opa} does not run (only policy test, build and explain --trace need it)`, fix: 'bash scripts/install-opa.sh, or set KEYGATE_OPA to an OPA binary' }
    : { check: 'opa', status: 'ok', detail: `${opa}: ${version}` }
}
