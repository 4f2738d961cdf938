// Child processes for benchmarks: servers started and stopped by pid, load runs.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LOAD = fileURLToPath(new URL('./load.js', import.meta.url))

/** A port nothing listens on right now, on 127.0.0.1. */
export async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * Starts a server process and resolves once it answers `readyPath` with a 200
 * (when `port` is given: the URL is http://127.0.0.1:port) or prints a URL.
 * `stop()` sends SIGTERM to that pid and waits for it to exit.
 */
export async function startServer (command, args, { env = {}, label = command, timeoutMs = 30_000, port, readyPath = '/healthz' } = {}) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start within ${timeoutMs} ms:\n${output}`)), timeoutMs)
    const onData = (chunk) => {
      output += chunk
      const match = /(https?:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) { clearTimeout(timer); resolve(match[1]) }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (chunk) => { output += chunk })
    if (port !== undefined) {
      const poll = async () => {
        const candidate = `http://127.0.0.1:${port}`
        try {
          const res = await fetch(candidate + readyPath)
          if (res.ok) { clearTimeout(timer); resolve(candidate); return }
        } catch {}
        if (child.exitCode === null) setTimeout(poll, 50)
      }
      poll()
    }
    exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`${label} exited (${code ?? signal}) before listening:\n${output}`)) })
  })
  // Keep draining its output so that it never blocks on a full pipe.
  child.stdout.removeAllListeners('data')
  child.stdout.resume()
  return {
    url,
    pid: child.pid,
    child,
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}

/** One autocannon run in a separate process; resolves with its summary. `script`: another load generator with the same protocol (grpc-load.js). */
export async function load (config, script = LOAD) {
  const child = spawn(process.execPath, [script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdin.end(JSON.stringify(config))
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  const code = await new Promise((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`${script} exited with ${code}`)
  return JSON.parse(out)
}

/** User + system CPU time of a process and its live children (the cluster workers), in milliseconds. */
/**
 * The CPU of a database's backends (but the asking one's), by pid, read with
 * `client` (a pg.Client on that database); `backendCpuSince(client, before)`
 * sums what each spent since, so that a backend that ended meanwhile (a
 * pool's idle connection, an autovacuum worker) takes nothing off the sum.
 */
export async function backendCpu (client) {
  const { rows } = await client.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')
  return new Map(rows.map((row) => [row.pid, cpuMs(row.pid)]))
}

export async function backendCpuSince (client, before) {
  let sum = 0
  for (const [pid, ms] of await backendCpu(client)) sum += ms - (before.get(pid) ?? 0)
  return sum
}

export function cpuMs (pid) {
  const tick = 100 // USER_HZ on Linux
  let total = 0
  for (const p of [pid, ...childrenOf(pid)]) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      total += (Number(fields[11]) + Number(fields[12])) * 1000 / tick
    } catch {}
  }
  return total
}

/** Resident set size of a process and its live children, in bytes. */
export function rssBytes (pid) {
  let total = 0
  for (const p of [pid, ...childrenOf(pid)]) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))
      if (match) total += Number(match[1]) * 1024
    } catch {}
  }
  return total
}

function childrenOf (pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}
