/**
 * The configuration as the deployment tests see it, in one place. Today the
 * KEYGATE_* variables are read by three modules; when one configuration module
 * exports its list of names and one reader, point these two functions at it.
 */
import { readFile } from 'node:fs/promises'
import { loadAuditConfig } from '../../src/audit/config.js'
import { loadConfig } from '../../src/server/config.js'
import { sessionSettingsFromEnvironment } from '../../src/sessions/environment.js'

const READERS = ['src/server/config.ts', 'src/audit/config.ts', 'src/sessions/environment.ts', 'src/server/cluster.ts']

/** Every KEYGATE_* name the configuration reads (prefixes in its comments, such as `KEYGATE_SESSION_*`, left out). */
export async function knownVariables (): Promise<Set<string>> {
  const names = new Set<string>()
  for (const file of READERS) {
    const source = await readFile(new URL(`../../${file}`, import.meta.url), 'utf8')
    for (const [name] of source.matchAll(/KEYGATE_[A-Z0-9_]*[A-Z0-9]\b/g)) names.add(name)
  }
  return names
}

/** What `keygate serve` would say about this environment: every problem, or none. */
export async function configurationProblems (env: NodeJS.ProcessEnv): Promise<string[]> {
  const problems: string[] = []
  const attempt = async (read: () => unknown): Promise<void> => {
    try {
      await read()
    } catch (error) {
      problems.push((error as Error).message)
    }
  }
  let store = {}
  await attempt(() => { store = loadConfig(env) })
  await attempt(() => loadAuditConfig(env))
  await attempt(async () => await sessionSettingsFromEnvironment(env, store))
  return problems
}
