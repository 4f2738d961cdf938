import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError, type Command } from 'commander'
import { explainRecord, opaExplain, RuleIndex, type Explanation } from '../audit/explain.js'
import { maskText } from '../audit/mask.js'
import { createAuthorizer } from '../authorizer/authorizer.js'
import { ExitCode, type CliIo, type Runner } from './context.js'
import type { Operations } from './operations.js'

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
  const policy = program.command('policy').description('the Rego policy: test, build, explain')

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
