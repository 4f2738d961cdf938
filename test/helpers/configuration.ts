/**
 * The configuration as the deployment tests see it: the one catalogue of
 * variables (src/config/variables.ts) and the one reader (loadConfig), with
 * the session settings that `keygate serve` derives from it.
 */
import { loadConfig, sessionSettingsOf } from '../../src/config/index.js'
import { VARIABLES } from '../../src/config/variables.js'

/** Every KEYGATE_* name Keygate reads. */
export async function knownVariables (): Promise<Set<string>> {
  return new Set(Object.values(VARIABLES).map((variable) => variable.name))
}

/** What `keygate serve` would say about this environment: every problem, or none. */
export async function configurationProblems (env: NodeJS.ProcessEnv): Promise<string[]> {
  try {
    await sessionSettingsOf(loadConfig(env))
    return []
  } catch (error) {
    const problems = (error as { problems?: string[] }).problems
    return problems ?? [(error as Error).message]
  }
}
