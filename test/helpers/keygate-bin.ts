/** The real `keygate` executable (bin/keygate.js, which runs the sources through tsx), spawned as a user would run it. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { tempDir } from './temp.js'
import { until } from './until.js'

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

export interface Served { child: ChildProcess; url: string; output: () => string; exit: Promise<unknown> }

/**
 * `keygate serve` on one worker and an ephemeral port, without the
 * failed-authentication throttle (tests send streams of bad keys from one
 * address), its decision log flushed every 50 ms unless `env` says otherwise;
 * killed when `t` ends if it still runs.
 */
export async function serve (t: Test, env: Record<string, string>): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      KEYGATE_PORT: '0',
      KEYGATE_WORKERS: '1',
      KEYGATE_THROTTLE_CLIENT: 'off',
      KEYGATE_THROTTLE_PREFIX: 'off',
      KEYGATE_DECISION_LOG_FLUSH_MS: '50',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk) => { output += String(chunk) })
  child.stderr?.on('data', (chunk) => { output += String(chunk) })
  const exit = new Promise((resolve) => child.on('exit', resolve))
  t.teardown(() => { child.kill('SIGKILL') })
  await until(() => /Server listening at (http:\/\/\S+?)"/.test(output), 120_000)
  const url = (/Server listening at (http:\/\/\S+?)"/.exec(output) as RegExpExecArray)[1] as string
  return { child, url, output: () => output, exit }
}

/**
 * A forward-auth check of a write with `token`, or with an unknown key when
 * it is null: the decision id of the allowed write, or null for the 401.
 */
export async function checkWrite (url: string, token: string | null): Promise<string | null> {
  const res = await fetch(`${url}/v1/forward-auth`, {
    headers: { authorization: `Bearer ${token ?? 'sk-' + 'x'.repeat(40)}`, 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/api/v1/bot/bot_1/update' }
  })
  await res.arrayBuffer()
  if (res.status === 401) return null
  if (res.status === 200) return res.headers.get('x-keygate-decision-id') as string
  throw new Error(`unexpected ${res.status}`)
}
