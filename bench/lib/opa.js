// The pinned OPA CLI (scripts/install-opa.sh) serving the Rego of Keygate's own bundle.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, ROOT, startServer } from './proc.js'

export function opaPath () {
  return execFileSync('bash', ['scripts/install-opa.sh'], { cwd: ROOT, encoding: 'utf8' }).trim()
}

/**
 * A Rego bundle of the same policy Keygate's WebAssembly was built from:
 * `opa build` (plain Rego target) over policies/ with scripts/policy.sh's
 * ignores. (The WebAssembly bundle's own copy of the Rego lacks its entrypoint
 * rule, which `opa build -t wasm` compiles into the module.) Returns the file
 * and a function removing it.
 */
export function regoBundle () {
  const dir = mkdtempSync(join(tmpdir(), 'kg-opa-'))
  const file = join(dir, 'bundle.tar.gz')
  execFileSync(opaPath(), ['build', '--ignore', '*_test.rego', '--ignore', 'schema', '-o', file, 'policies'], { cwd: ROOT })
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** `opa run --server` on 127.0.0.1 with that folder as its bundle; GOMAXPROCS when `cores` is given. */
export async function startOpa ({ bundle, cores }) {
  const port = await freePort()
  return await startServer(opaPath(), [
    'run', '--server', '--bundle', '--addr', `127.0.0.1:${port}`,
    '--log-level', 'error', '--skip-version-check', bundle
  ], { label: `opa (GOMAXPROCS=${cores ?? 'default'})`, port, readyPath: '/health', env: cores === undefined ? {} : { GOMAXPROCS: String(cores) } })
}
