/** `keygate` commands run in this process through main(), with their output captured, on each store the suite has. */
import { join } from 'node:path'
import type { Test } from 'tap'
import { main } from '../../src/cli/main.js'
import { createTestDatabase, testDatabases } from './databases.js'
import { tempDir } from './temp.js'

export interface Run { code: number; stdout: string; stderr: string }

export function cli (env: NodeJS.ProcessEnv) {
  return async (...argv: string[]): Promise<Run> => {
    let stdout = ''
    let stderr = ''
    const code = await main(argv, { stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } }, env })
    return { code, stdout, stderr }
  }
}

/** A command's `--json` output, parsed; a failure of `t` when it exits other than 0. */
export function cliJson (t: Test, run: ReturnType<typeof cli>) {
  return async (...argv: string[]): Promise<any> => {
    const result = await run(...argv, '--json')
    t.equal(result.code, 0, `${argv.join(' ')}: ${result.stderr}`)
    return JSON.parse(result.stdout)
  }
}

/** The environments of a new embedded store, and of a new PostgreSQL database where the suite has one. */
export async function stores (t: Test): Promise<Array<[string, NodeJS.ProcessEnv]>> {
  const dir = tempDir(t, 'cli')
  const out: Array<[string, NodeJS.ProcessEnv]> = [['pglite', { KEYGATE_DATA_DIR: join(dir, 'data') }]]
  if (testDatabases().some((driver) => driver.name === 'pg')) out.push(['pg', { KEYGATE_DATABASE_URL: await createTestDatabase(t), KEYGATE_SIGNING_SECRET: 'a'.repeat(64) }])
  return out
}
