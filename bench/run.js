// `npm run bench`: runs every figure's script in a process of its own, one
// after the other, and prints one table. Each script measures its baseline in
// the same run (alternating rounds) and reports medians.
//
//   node bench/run.js [--small] [--only forward-auth,opa,...] [--write]
//
// --small: shorter rounds and a 100,000-key store instead of 1,000,000 (quick
//          checks; not what docs/performance.md reports).
// --write: write bench/RESULTS.md and bench/results.json (the default for a
//          full run; a --small run writes nothing unless asked).
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const SCRIPTS = [
  ['forward-auth', 'HTTP forward-auth vs Fastify hello world'],
  ['ext-authz', 'gRPC ext_authz Check vs HTTP forward-auth'],
  ['introspection', 'RFC 7662 introspection vs HTTP forward-auth'],
  ['opa', 'Keygate vs opa run --server'],
  ['embedded', 'Embedded authorize() and policy evaluation'],
  ['cold-path', 'Cold path on PostgreSQL'],
  ['floods', 'Floods of bad credentials'],
  ['limits', 'Forward-auth with limits on the key vs without'],
  ['sessions', 'Session-token verification'],
  ['memory', 'Memory'],
  ['decision-log', 'The default decision log: defaults vs log off vs hello world'],
  ['log-rows', 'Decision-log rows per second per database (COPY) vs a bare COPY'],
  ['listen-fanout', 'NOTIFY latency to 50 listening connections vs one']
]

const { values } = parseArgs({ options: { small: { type: 'boolean', default: false }, only: { type: 'string' }, write: { type: 'boolean' } } })
const only = values.only?.split(',').map((s) => s.trim())
const selected = SCRIPTS.filter(([name]) => only === undefined || only.includes(name))
if (selected.length === 0) throw new Error(`--only names none of ${SCRIPTS.map(([n]) => n).join(', ')}`)
// A partial or small run never writes over the full run's results unless told to (--write).
const write = values.write ?? (!values.small && only === undefined)
const root = fileURLToPath(new URL('..', import.meta.url))

const started = new Date()
const machine = `${availableParallelism()} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
process.stderr.write(`keygate bench${values.small ? ' --small' : ''}: ${selected.map(([n]) => n).join(', ')}\n${machine}\n\n`)

const results = []
for (const [name, title] of selected) {
  process.stderr.write(`── ${name}: ${title}\n`)
  const t0 = performance.now()
  const result = await runScript(name)
  process.stderr.write(`   ${((performance.now() - t0) / 1000).toFixed(0)} s\n\n`)
  results.push({ name, title, ...result })
}

const loadAtEnd = loadavg().map((l) => l.toFixed(1)).join(' ')
const table = render(results)
process.stdout.write(`\n${table}\n`)
const failed = results.filter((r) => r.error !== undefined)
if (write) {
  const command = `npm run bench${values.small ? ' -- --small' : ''}${only ? ` -- --only ${only.join(',')}` : ''}`
  writeFileSync(new URL('RESULTS.md', import.meta.url), markdown(results, table, command))
  writeFileSync(new URL('results.json', import.meta.url), JSON.stringify({ started: started.toISOString(), machine, loadAtEnd, small: values.small, results }, null, 2) + '\n')
  process.stderr.write('wrote bench/RESULTS.md and bench/results.json\n')
}
process.exitCode = failed.length > 0 ? 1 : 0

function runScript (name) {
  return new Promise((resolve) => {
    const args = [`bench/${name}.js`, ...(values.small ? ['--small'] : [])]
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk) => { out += chunk })
    child.stderr.on('data', (chunk) => {
      err += chunk
      process.stderr.write(String(chunk).replace(/^(?=.)/gm, '   '))
    })
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '))
      if (code !== 0 || line === undefined) {
        resolve({ rows: [], error: `exited with ${code}: ${err.trim().split('\n').slice(-3).join(' / ')}` })
        return
      }
      resolve(JSON.parse(line.slice('BENCH_RESULT '.length)))
    })
  })
}

function fmt (value, unit) {
  if (typeof value !== 'number') return String(value)
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3
  const text = value.toLocaleString('en', { maximumFractionDigits: digits })
  return unit === undefined ? text : `${text} ${unit}`
}

/** The extra figures of a row (p99, CPU per request, …) in one short note. */
function extras (row) {
  const parts = []
  if (row.p50 !== undefined) parts.push(`p50 ${row.p50}`)
  if (row.p99 !== undefined) parts.push(`p99 ${typeof row.p99 === 'number' ? `${row.p99} ms` : row.p99}`)
  if (row.cpuUsPerRequest !== undefined) parts.push(`server CPU ${row.cpuUsPerRequest} µs/req`)
  if (row.throughput !== undefined) parts.push(row.throughput)
  if (row.idle !== undefined) parts.push(row.idle)
  if (row.entries !== undefined && Object.keys(row.entries).length > 0) parts.push(`cache entries ${Object.entries(row.entries).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  if (row.samples !== undefined) parts.push(`samples ${row.samples.join(' ')}`)
  if (row.note !== undefined) parts.push(row.note)
  return parts.join('; ')
}

function baselineText (row) {
  const b = row.baseline
  if (b === undefined) return ''
  const parts = [`${b.name}: ${fmt(b.value, b.unit ?? row.unit)}`]
  if (b.p50 !== undefined) parts.push(`p50 ${b.p50}`)
  if (b.p99 !== undefined) parts.push(`p99 ${typeof b.p99 === 'number' ? `${b.p99} ms` : b.p99}`)
  if (b.cpuUsPerRequest !== undefined) parts.push(`server CPU ${b.cpuUsPerRequest} µs/req`)
  if (b.throughput !== undefined) parts.push(b.throughput)
  return parts.join('; ')
}

function render (results) {
  const header = ['#', 'measurement', 'Keygate', 'baseline (same run)', 'ratio', 'target', 'met']
  const lines = []
  for (const r of results) {
    if (r.error !== undefined) {
      lines.push([String(SCRIPTS.findIndex(([n]) => n === r.name) + 1), `${r.title}: FAILED ${r.error}`, '', '', '', '', 'no'])
      continue
    }
    for (const row of r.rows) {
      const value = [fmt(row.value, row.unit), extras(row)].filter(Boolean).join('; ')
      lines.push([
        String(row.figure),
        row.name,
        value,
        baselineText(row),
        row.ratio === undefined ? '' : `${row.ratio}×`,
        row.target ?? '',
        row.met === undefined ? '' : row.met ? 'yes' : 'NO'
      ])
    }
  }
  const escape = (cell) => cell.replace(/\|/g, '\\|')
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...lines.map((cells) => `| ${cells.map(escape).join(' | ')} |`)
  ].join('\n')
}

function markdown (results, table, command) {
  return `# Benchmark results

Latest \`${command}\`, started ${started.toISOString()} on ${machine}; load average at the end ${loadAtEnd}
(other processes on the machine share its cores with the benchmark).
How each figure is measured: [README.md](README.md). Every figure is the median
of its rounds; baselines ran in the same run, in alternating rounds.

${table}
`
}
