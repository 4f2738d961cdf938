import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { extract } from 'tar-stream'
import { PolicyBundleError } from './errors.js'

/** Upper bound on the unpacked bundle, so a hostile bundle server cannot exhaust memory. */
const MAX_UNPACKED_BYTES = 64 * 1024 * 1024

export interface BundleContents {
  wasm: Uint8Array
  data: Record<string, unknown>
  /** `.manifest` revision, '' when the bundle has none. */
  revision: string
}

/** Unpacks an `opa build -t wasm` bundle (tar.gz) in memory. */
export async function readBundle (gzipped: Uint8Array, entrypoint: string): Promise<BundleContents> {
  let tar: Buffer
  try {
    tar = gunzipSync(gzipped, { maxOutputLength: MAX_UNPACKED_BYTES })
  } catch (error) {
    throw new PolicyBundleError('policy bundle is not a valid gzip stream', { cause: error })
  }

  const files = new Map<string, Buffer>()
  try {
    const entries = extract()
    Readable.from([tar]).pipe(entries)
    for await (const entry of entries) {
      const chunks: Buffer[] = []
      for await (const chunk of entry) chunks.push(chunk as Buffer)
      if (entry.header.type === 'file') files.set(normalize(entry.header.name), Buffer.concat(chunks))
    }
  } catch (error) {
    throw new PolicyBundleError('policy bundle is not a valid tar archive', { cause: error })
  }

  const manifest = parseJson(files.get('.manifest'), '.manifest') ?? {}
  if (manifest.revision !== undefined && typeof manifest.revision !== 'string') {
    throw new PolicyBundleError('policy bundle .manifest has a non-string revision')
  }
  const data = parseJson(files.get('data.json'), 'data.json') ?? {}
  const wasm = files.get(wasmModulePath(manifest, entrypoint))
  if (wasm === undefined) throw new PolicyBundleError(`policy bundle has no WebAssembly module for ${entrypoint}`)
  return { wasm, data, revision: manifest.revision ?? '' }
}

function normalize (name: string): string {
  return name.replace(/^(\.?\/)+/, '')
}

function wasmModulePath (manifest: Record<string, unknown>, entrypoint: string): string {
  const modules = Array.isArray(manifest.wasm) ? manifest.wasm : []
  const match = modules.find((m) => m?.entrypoint === entrypoint && typeof m.module === 'string')
  return normalize(match?.module ?? 'policy.wasm')
}

function parseJson (raw: Buffer | undefined, name: string): Record<string, any> | undefined {
  if (raw === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(raw.toString('utf8'))
  } catch (error) {
    throw new PolicyBundleError(`policy bundle ${name} is not valid JSON`, { cause: error })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PolicyBundleError(`policy bundle ${name} is not a JSON object`)
  }
  return value as Record<string, any>
}
