import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { extract } from 'tar-stream'
import type { AuthorizationResult, DecisionRecord } from '../authorizer/result.js'
import { ENTRYPOINT } from '../policy/engine.js'
import type { PolicyInput } from '../policy/input.js'
import { maskValue } from './mask.js'

/** Where the policy produces a reason: the rule and its place in the source. */
export interface RuleLocation {
  /** The reason code, e.g. `impersonation_not_parent`. */
  code: string
  msg: string
  /** The rule that adds it, e.g. `impersonation_reasons`; null when not found in the sources. */
  rule: string | null
  /** `file:line`, e.g. `policies/keygate/authz/authz.rego:227`. */
  location: string | null
}

/** A decision and what produced it, with secrets masked. */
export interface Explanation {
  decision: AuthorizationResult
  /** The rules whose reasons decided it, in the policy's order. */
  rules: RuleLocation[]
  /** The policy input the decision was made on, masked; null when it could not be assembled (503). */
  input: PolicyInput | null
  /** The sources `rules` were found in: the bundle's revision, or null when they were not available. */
  sourcesRevision: string | null
  /**
   * Whose lines `location` counts: `author` for the files under policies/ the bundle was built from,
   * `bundle` for the copy inside the bundle (reformatted by opa build) when policies/ is not that revision.
   */
  sources: RuleSources | null
  /** Lines of `opa eval --explain=fails` on the Rego source, when asked for (CLI). */
  trace?: string[]
}

export type RuleSources = 'author' | 'bundle'

const MAX_SOURCE_BYTES = 16 * 1024 * 1024
/** The package root: bundle entries are named as `opa build` was given them from there (`policies/…`). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * Maps reason codes to the rules that produce them, from the Rego sources
 * (and data.json) the bundle was built from: the author's files under
 * policies/ when they are the bundle's revision, else the copy `opa build`
 * put in the bundle beside the WebAssembly (reformatted, so its lines differ).
 */
export class RuleIndex {
  readonly revision: string | null
  readonly sources: RuleSources | null
  readonly #byCode = new Map<string, { rule: string; location: string }>()

  constructor (files: ReadonlyMap<string, string>, revision: string | null, sources: RuleSources | null = null) {
    this.revision = revision
    this.sources = sources
    const ordered = [...files.keys()].sort()
    for (const file of ordered) {
      if (!file.endsWith('.rego') || file.endsWith('_test.rego')) continue
      this.#indexRego(file, files.get(file) as string)
    }
    for (const file of ordered) {
      if (file.endsWith('data.json')) this.#indexData(file, files.get(file) as string)
    }
  }

  static empty (): RuleIndex {
    return new RuleIndex(new Map(), null)
  }

  /**
   * The sources of an `opa build` bundle (tar.gz): the author's, under `root`/policies/ (default: this
   * package's), when they hash to the bundle's revision; else the bundle's own copy. Empty when it cannot be read.
   */
  static async fromBundle (path: string, options: { root?: string } = {}): Promise<RuleIndex> {
    let files: Map<string, string>
    let revision = ''
    try {
      files = await bundleSources(await readFile(path))
      const manifest = files.get('.manifest')
      if (manifest !== undefined) {
        const parsed = JSON.parse(manifest) as { revision?: unknown }
        if (typeof parsed.revision === 'string') revision = parsed.revision
      }
    } catch {
      return RuleIndex.empty()
    }
    const author = await authorSources(options.root ?? PACKAGE_ROOT).catch(() => null)
    if (author !== null && revision !== '' && author.revision === revision) return new RuleIndex(author.files, revision, 'author')
    return new RuleIndex(files, revision, 'bundle')
  }

  locate (code: string): { rule: string; location: string } | null {
    return this.#byCode.get(code) ?? null
  }

  #indexRego (file: string, text: string): void {
    let rule: string | null = null
    const lines = text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string
      // A rule starts at column 0; `default x := …` and `x contains …`, `x := …`, `x if …` all name x.
      const head = /^(?:default\s+)?([A-Za-z_][A-Za-z0-9_]*)\b/.exec(line)
      if (head !== null && !['package', 'import'].includes(head[1] as string)) rule = head[1] as string
      for (const match of line.matchAll(/"code":\s*"([a-z0-9_]+)"/g)) {
        const code = match[1] as string
        if (rule !== null && !this.#byCode.has(code)) this.#byCode.set(code, { rule, location: `${file}:${i + 1}` })
      }
    }
  }

  // Reasons named in data (restrictions): `"reason": "account_suspended"`.
  #indexData (file: string, text: string): void {
    const lines = text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      for (const match of (lines[i] as string).matchAll(/"reason":\s*"([a-z0-9_]+)"/g)) {
        const code = match[1] as string
        if (!this.#byCode.has(code)) this.#byCode.set(code, { rule: 'denials (data.keygate.restrictions)', location: `${file}:${i + 1}` })
      }
    }
  }
}

/**
 * The RuleIndex of a bundle file, for a server whose policy may reload: read
 * on first use, and again whenever the deciding policy's revision is not the
 * one read (rules stay unnamed if the file is not that revision either).
 */
export class BundleRules {
  readonly #path: string
  #index: Promise<RuleIndex> | null = null

  constructor (path: string) {
    this.#path = path
  }

  async for (revision: string | null): Promise<RuleIndex> {
    this.#index ??= RuleIndex.fromBundle(this.#path)
    if ((await this.#index).revision !== revision) this.#index = RuleIndex.fromBundle(this.#path)
    return await this.#index
  }
}

/** The explanation of one decision: reasons mapped to rules, the input masked. */
export function explainRecord (record: DecisionRecord, index: RuleIndex): Explanation {
  const usable = index.revision !== null && (record.result.policyRevision === null || index.revision === record.result.policyRevision)
  return maskValue({
    decision: record.result,
    rules: record.result.reasons.map((reason) => {
      const found = usable ? index.locate(reason.code) : null
      return { code: reason.code, msg: reason.msg, rule: found?.rule ?? null, location: found?.location ?? null }
    }),
    input: record.input,
    sourcesRevision: usable ? index.revision : null,
    sources: usable ? index.sources : null
  })
}

export interface OpaTrace {
  /** `opa eval --explain=fails` lines: every expression that failed on the way to the decision. */
  trace: string[]
  /** The decision the Rego source gives for the same input (it should match the WebAssembly's). */
  result: unknown
}

/**
 * Evaluates the entrypoint with `opa eval --explain=fails` on the Rego
 * source, for a policy author. The input holds facts, not secrets, and is
 * masked again before it leaves this process.
 */
export async function opaExplain (input: PolicyInput, options: { opa: string; policyDir: string; timeoutMs?: number }): Promise<OpaTrace> {
  const args = ['eval', '--explain=fails', '--format=pretty', '--stdin-input', '-d', options.policyDir,
    '--ignore', '*_test.rego', '--ignore', 'schema', `data.${ENTRYPOINT.replace(/\//g, '.')}`]
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(options.opa, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => { child.kill('SIGKILL') }, options.timeoutMs ?? 30_000)
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
    child.on('error', (error) => { clearTimeout(timer); reject(error) })
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`opa eval exited with ${String(code)}: ${err.trim() || out.trim()}`))
    })
    child.stdin.end(JSON.stringify(maskValue(input)))
  })
  const lines = output.split('\n')
  const start = lines.findIndex((line) => line === '{' || line === 'undefined')
  const trace = (start === -1 ? lines : lines.slice(0, start)).filter((line) => line.trim() !== '')
  let result: unknown = null
  if (start !== -1 && lines[start] === '{') result = JSON.parse(lines.slice(start).join('\n'))
  return { trace, result }
}

/**
 * The policy files under `root`/policies/ and their revision, by the recipe of `revision()` in
 * scripts/policy.sh: sha256sum of every non-test .rego and every data.json outside policies/schema,
 * in byte order of their paths, hashed again, first 16 hex digits.
 */
async function authorSources (root: string): Promise<{ files: Map<string, string>; revision: string }> {
  const paths: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`
      if (entry.isDirectory()) {
        if (path !== 'policies/schema') await walk(path)
      } else if (entry.isFile() && ((entry.name.endsWith('.rego') && !entry.name.endsWith('_test.rego')) || entry.name === 'data.json')) {
        paths.push(path)
      }
    }
  }
  await walk('policies')
  paths.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  const files = new Map<string, string>()
  const sums = createHash('sha256')
  for (const path of paths) {
    const data = await readFile(join(root, path))
    files.set(path, data.toString('utf8'))
    sums.update(`${createHash('sha256').update(data).digest('hex')}  ${path}\n`)
  }
  return { files, revision: sums.digest('hex').slice(0, 16) }
}

async function bundleSources (gzipped: Uint8Array): Promise<Map<string, string>> {
  const tar = gunzipSync(gzipped, { maxOutputLength: 64 * 1024 * 1024 })
  const files = new Map<string, string>()
  const entries = extract()
  Readable.from([tar]).pipe(entries)
  let total = 0
  for await (const entry of entries) {
    const name = entry.header.name.replace(/^(\.?\/)+/, '')
    const wanted = entry.header.type === 'file' && (name.endsWith('.rego') || name.endsWith('data.json') || name === '.manifest')
    const chunks: Buffer[] = []
    for await (const chunk of entry) if (wanted) chunks.push(chunk as Buffer)
    if (!wanted) continue
    const data = Buffer.concat(chunks)
    total += data.length
    if (total > MAX_SOURCE_BYTES) throw new Error('bundle sources too large')
    files.set(name, data.toString('utf8'))
  }
  return files
}
