/** The real `keygate` executable (bin/keygate.js, which runs the sources through tsx), spawned as a user would run it. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { tempDir } from './temp.js'

export const BIN = fileURLToPath(new URL('../../bin/keygate.js', import.meta.url))

export interface Run { code: number | null; stdout: string; stderr: string }

/** An environment without the caller's KEYGATE_* variables (the test suite's own included). */
export function cleanEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('KEYGATE_')) env[name] = value
  return { ...env, ...extra }
}

export async function keygate (cwd: string, argv: string[], env: NodeJS.ProcessEnv = cleanEnv(), bin = BIN): Promise<Run> {
  const child = spawn(process.execPath, [bin, ...argv], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
  return { code, stdout, stderr }
}

export function folder (t: Test): string {
  return tempDir(t, 'bin')
}
