import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, type Command } from 'commander'
import { explainRecord, opaExplain, RuleIndex, type Explanation } from '../audit/explain.js'
import { maskText } from '../audit/mask.js'
import { MAX_REPLAY_LIMIT, replayDecisions, type ReplayOutcome, type ReplayReport } from '../audit/replay.js'
import { AuditStore } from '../audit/store.js'
import { sinceOf } from '../audit/time.js'
import { createAuthorizer } from '../authorizer/authorizer.js'
import { policyConfigOf } from '../config/index.js'
import { PolicyEngine } from '../policy/engine.js'
import { PolicyFault } from '../policy/errors.js'
import { ExitCode, table, wholeNumber, type CliIo, type Runner } from './context.js'
import { OperationError, type Operations } from './operations.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The OPA CLI: KEYGATE_OPA, else the one scripts/install-opa.sh builds, else `opa` on the PATH. */
export function opaBinary (configured: string | undefined): string {
  const local = resolve(ROOT, '.tools/bin/opa')
  return configured ?? (existsSync(local) ? local : 'opa')
}

export const operations: Operations = {
  'policy.explain': async ({ store, sessions, policyBundle }, p) => {
    const bundle = (p.bundle as string | undefined) ?? policyBundle
    // Without the signing secret, session tokens count as unknown: the rest still explains.
    const service = await sessions().catch(() => undefined)
    const authorizer = await createAuthorizer({ store, sessions: service, policy: bundle })
    try {
      const record = await authorizer.explain({
        method: p.method as string, path: p.path as string, headers: p.headers as Record<string, string[]>, scheme: p.scheme as 'http' | 'https'
      })
      const explained: Explanation = explainRecord(record, await RuleIndex.fromBundle(bundle))
      if (p.opa !== undefined && record.input !== null) {
        explained.trace = (await opaExplain(record.input, { opa: p.opa as string, policyDir: resolve(ROOT, 'policies') })).trace
      }
      return explained
    } finally {
      await authorizer.close()
    }
  },
  'policy.replay': async ({ store }, p) => {
    let candidate: PolicyEngine
    try {
      candidate = await PolicyEngine.fromBundle(await readFile(p.bundle as string), { decisionCache: 0, config: p.policyConfig as Record<string, unknown> | undefined })
    } catch (error) {
      if (!(error instanceof PolicyFault) && (error as NodeJS.ErrnoException).code === undefined) throw error
      throw new OperationError(`cannot use the bundle ${p.bundle as string}: ${(error as Error).message}`)
    }
    const since = p.since === undefined ? undefined : new Date(p.since as number)
    return await replayDecisions(new AuditStore(store.database), candidate, { since, limit: p.limit as number | undefined })
  }
}

function header (value: string, previous: Record<string, string[]> | undefined): Record<string, string[]> {
  const colon = value.indexOf(':')
  if (colon < 1) throw new InvalidArgumentError(`expected 'Name: value', got ${JSON.stringify(maskText(value))}`)
  const headers = { ...previous }
  const name = value.slice(0, colon).trim().toLowerCase()
  headers[name] = [...(headers[name] ?? []), value.slice(colon + 1).trim()]
  return headers
}

function method (value: string): string {
  if (!/^[A-Za-z]{1,20}$/.test(value)) throw new InvalidArgumentError('expected an HTTP method')
  return value.toUpperCase()
}

function outcome (o: ReplayOutcome): string {
  return `${o.status} ${o.allow ? 'allow' : 'deny'}${o.reasons.length === 0 ? '' : ` (${o.reasons.join(',')})`}`
}

function describeReplay (r: ReplayReport): string {
  const lines = [
    `replayed ${r.replayed} of ${r.read} recorded decisions${r.since === null ? '' : ` since ${r.since}`} against revision ${r.revision || '-'}: ${r.changes.length} would change${r.faults === 0 ? '' : `, ${r.faults} could not be decided (503)`}`
  ]
  if (r.changes.length === 0) return lines.join('\n')
  lines.push('', table(['TIME', 'DECISION', 'ROUTE', 'SUBJECT', 'RECORDED', 'REPLAYED'],
    r.changes.map((c) => [c.timestamp, c.decisionId, `${c.method} ${c.path}`, c.subject ?? '', outcome(c.recorded), outcome(c.replayed)])))
  lines.push('', table(['ROUTE', 'CHANGED', 'TO DENY', 'TO ALLOW'], r.byRoute.map((b) => [b.route, String(b.changed), String(b.toDeny), String(b.toAllow)])))
  lines.push('', table(['REASON', 'ADDED', 'REMOVED'], r.byReason.map((b) => [b.reason, String(b.added), String(b.removed)])))
  return lines.join('\n')
}

function describe (e: Explanation): string {
  const d = e.decision
  const lines = [
    `decision:   ${d.status} ${d.code} (${d.allow ? 'allow' : 'deny'})`,
    `subject:    ${d.subject ?? '-'}${d.actor === null ? '' : `   actor: ${d.actor} (impersonating)`}`,
    `credential: ${d.credential.type}${d.credential.id === null ? '' : ` ${d.credential.id}`}${d.credential.prefix === null ? '' : ` (${d.credential.prefix}…)`}`,
    `action:     ${d.action === null ? '-' : `${d.action.resource} ${d.action.verb} (${d.action.class})`}`,
    `policy:     revision ${d.policyRevision ?? '-'}`
  ]
  if (e.rules.length > 0) {
    lines.push(e.sources === 'bundle'
      ? 'reasons (lines of the bundle\'s reformatted copy: policies/ here is not the bundle\'s revision):'
      : 'reasons:')
    for (const r of e.rules) {
      lines.push(`  ${r.code}: ${r.msg}`)
      lines.push(`    rule ${r.rule ?? '(not found in the bundle\'s sources)'}${r.location === null ? '' : ` at ${r.location}`}`)
    }
  }
  lines.push('input (masked):', JSON.stringify(e.input, null, 2))
  if (e.trace !== undefined) lines.push('opa eval --explain=fails:', ...e.trace)
  return lines.join('\n')
}

export function register (program: Command, runner: Runner): void {
  const policy = program.command('policy').description('the Rego policy: test, build, explain, replay')

  policy.command('test').description('opa fmt, opa check --strict with the input schema, opa test with the coverage gate')
    .action(async () => { await script(runner.io, 'test') })
  policy.command('build').description('compile the policy to WebAssembly: build/bundle.tar.gz')
    .action(async () => { await script(runner.io, 'build') })

  policy.command('explain').description('decide one request on the store and name the rules that decided it')
    .requiredOption('--path <path>', 'the request path, e.g. /api/v1/bot/list')
    .option('--method <method>', 'the HTTP method', method, 'GET')
    .option('-H, --header <header>', '\'Name: value\' (repeatable), e.g. \'Authorization: Bearer sk-…\'', header, {})
    .option('--scheme <scheme>', 'http or https', (v: string) => {
      if (v !== 'http' && v !== 'https') throw new InvalidArgumentError('expected http or https')
      return v
    }, 'https')
    .option('--bundle <file>', 'the bundle to decide with (default: KEYGATE_POLICY_BUNDLE)')
    .option('--trace', 'add opa eval --explain=fails on the Rego sources (needs the OPA CLI)')
    .action(async (o: { path: string; method: string; header: Record<string, string[]>; scheme: string; bundle?: string; trace?: boolean }, c: Command) => {
      const config = runner.config(c)
      await runner.run(c, 'policy.explain', {
        path: o.path,
        method: o.method,
        headers: o.header,
        scheme: o.scheme,
        bundle: o.bundle === undefined ? undefined : resolve(o.bundle),
        opa: o.trace === true ? opaBinary(config.opa) : undefined
      }, describe)
    })

  policy.command('replay').description('decide the last recorded decisions again with a built bundle and list every one that would change')
    .requiredOption('--bundle <file>', 'the candidate bundle (opa build -t wasm output, tar.gz)')
    .option('--since <time>', 'recorded from then on: a duration back from now (30m, 24h, 7d), epoch ms or RFC 3339', (v: string) => {
      try {
        return sinceOf('--since', v).getTime()
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message)
      }
    })
    .option('--limit <n>', `the newest this many decisions, 1 to ${MAX_REPLAY_LIMIT} (default 1000)`, wholeNumber(1, MAX_REPLAY_LIMIT))
    .action(async (o: { bundle: string; since?: number; limit?: number }, c: Command) => {
      const config = runner.config(c)
      await runner.run(c, 'policy.replay', { bundle: resolve(o.bundle), since: o.since, limit: o.limit, policyConfig: policyConfigOf(config) }, describeReplay)
    })
}

/** scripts/policy.sh, whose exit code becomes the CLI's. */
async function script (io: CliIo, action: 'test' | 'build'): Promise<void> {
  const code = await new Promise<number>((resolve) => {
    const child = spawn('bash', ['scripts/policy.sh', action], { cwd: ROOT, env: io.env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', (chunk: Buffer) => io.stdout.write(chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => io.stderr.write(chunk.toString()))
    child.on('close', (code) => { resolve(code ?? 1) })
    child.on('error', (error) => { io.stderr.write(`keygate: ${error.message}\n`); resolve(1) })
  })
  if (code !== 0) throw new ExitCode(code)
}
