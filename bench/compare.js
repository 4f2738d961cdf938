// Forward-auth of an earlier revision against this working tree, side by side:
// both servers on one throwaway database, the same cached key, alternating
// rounds (bench/lib/rounds.js), one process and one worker per core, decision
// log off and to PostgreSQL.
//
//   npm run build && node bench/compare.js <git revision>
//
// The revision is checked out into a temporary git worktree, built there with
// this checkout's node_modules and policy bundle, and removed afterwards.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { throwawayDatabase } from './lib/db.js'
import { forwardHeaders, smallFixture } from './lib/fixture.js'
import { freePort, ROOT, startServer } from './lib/proc.js'
import { log, med, round } from './lib/report.js'
import { loadRounds } from './lib/rounds.js'

const revision = process.argv[2]
if (revision === undefined) throw new Error('usage: node bench/compare.js <git revision>')
const cores = availableParallelism()
const before = mkdtempSync(join(tmpdir(), 'keygate-compare-'))
const git = (...args) => execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim()

const db = await throwawayDatabase('compare')
const servers = []
try {
  log(`building ${git('rev-parse', '--short', revision)} in ${before}`)
  git('worktree', 'add', '--detach', before, revision)
  symlinkSync(join(ROOT, 'node_modules'), join(before, 'node_modules'))
  mkdirSync(join(before, 'build'))
  copyFileSync(join(ROOT, 'build/bundle.tar.gz'), join(before, 'build/bundle.tar.gz'))
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', before], { stdio: 'inherit' })

  const fx = await smallFixture(db.url)
  const start = async (root, workers, decisionLog) => {
    const port = await freePort()
    const server = await startServer(process.execPath, [join(root, 'bin/keygate.js'), 'serve'], {
      port,
      env: {
        KEYGATE_HOST: '127.0.0.1',
        KEYGATE_PORT: String(port),
        KEYGATE_DATABASE_URL: db.url,
        KEYGATE_SIGNING_SECRET: fx.secret.toString('base64'),
        KEYGATE_LOG_LEVEL: 'warn',
        KEYGATE_WORKERS: String(workers),
        ...(decisionLog ? {} : { KEYGATE_DECISION_LOG: 'off' })
      }
    })
    servers.push(server)
    return server
  }
  const targets = []
  for (const workers of [1, cores]) {
    for (const decisionLog of [false, true]) {
      const mode = `${workers === 1 ? '1 process' : `${workers} workers`}${decisionLog ? ', decision log to PostgreSQL' : ', decision log off'}`
      for (const [name, root] of [['before', before], ['after', ROOT]]) {
        const server = await start(root, workers, decisionLog)
        targets.push({ name: `${name}: ${mode}`, side: name, mode, server, request: { url: `${server.url}/v1/forward-auth`, headers: forwardHeaders(fx.key) } })
      }
    }
  }
  const samples = await loadRounds(targets, { rounds: 3, duration: 4, connections: 50 })
  process.stdout.write(`\n| cached key | ${revision} | this tree |\n|---|---|---|\n`)
  for (const mode of new Set(targets.map((t) => t.mode))) {
    const cell = (side) => {
      const s = samples[`${side}: ${mode}`]
      return `${round(med(s, 'rps')).toLocaleString('en')} req/s, ${round(med(s, 'cpuUsPerRequest'), 1)} µs CPU/req`
    }
    process.stdout.write(`| ${mode} | ${cell('before')} | ${cell('after')} |\n`)
  }
} finally {
  for (const server of servers) await server.stop()
  await db.drop()
  try { git('worktree', 'remove', '--force', before) } catch {}
  rmSync(before, { recursive: true, force: true })
}
