/**
 * The compiled policy for tests: builds build/bundle.tar.gz with
 * scripts/policy.sh when it is missing or older than a policy source, so
 * `npx tap test/policy` works on a fresh checkout and never tests a stale
 * bundle. Also builds throwaway bundles from Rego written by a test.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PolicyEngine, type PolicyEngineOptions } from '../../../src/policy/engine.js'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const BUNDLE = join(ROOT, 'build/bundle.tar.gz')

let built = false

export function ensureBundle (): string {
  if (built) return BUNDLE
  const bundleTime = mtime(BUNDLE)
  if (bundleTime === 0 || policySources(join(ROOT, 'policies')).some((f) => mtime(f) > bundleTime)) {
    execFileSync('bash', [join(ROOT, 'scripts/policy.sh'), 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  }
  built = true
  return BUNDLE
}

export async function loadEngine (options?: PolicyEngineOptions): Promise<PolicyEngine> {
  return await PolicyEngine.fromBundle(ensureBundle(), options)
}

export function policyData (): { routes: { verbs: Record<string, string>; exact: Record<string, string>; manage_resources: string[] } } {
  return JSON.parse(readFileSync(join(ROOT, 'policies/keygate/data.json'), 'utf8'))
}

/** Builds a WASM bundle from the given files in dir; returns its bytes. */
export function buildBundle (dir: string, files: Record<string, string>, entrypoint = 'keygate/authz/decision'): Buffer {
  ensureBundle() // also writes build/capabilities.json
  const src = join(dir, 'src')
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(src, name, '..'), { recursive: true })
    writeFileSync(join(src, name), text)
  }
  const opa = execFileSync('bash', [join(ROOT, 'scripts/install-opa.sh')], { encoding: 'utf8' }).trim()
  const out = join(dir, 'bundle.tar.gz')
  execFileSync(opa, ['build', '-t', 'wasm', '-e', entrypoint, '--capabilities', join(ROOT, 'build/capabilities.json'),
    '--revision', 'test', '-o', out, src], { stdio: ['ignore', 'ignore', 'inherit'] })
  return readFileSync(out)
}

function policySources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && (e.name === 'data.json' || (e.name.endsWith('.rego') && !e.name.endsWith('_test.rego'))))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
}

function mtime (file: string): number {
  try {
    return statSync(file).mtimeMs
  } catch {
    return 0
  }
}
