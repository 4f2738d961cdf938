import { parseArgs, type ParseArgsConfig } from 'node:util'
import { maskText } from '../audit/mask.js'
import { openStore, type Store } from '../store/index.js'

export interface CliIo {
  stdout: { write(chunk: string): unknown }
  stderr: { write(chunk: string): unknown }
  env: NodeJS.ProcessEnv
}

/** Bad arguments: `main` prints the usage and exits 2. */
export class UsageError extends Error {}

export type Values = Record<string, string | boolean | string[] | undefined>
export type Options = NonNullable<ParseArgsConfig['options']>

/** Every command takes these. */
const COMMON_OPTIONS = {
  'database-url': { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const satisfies Options

/** Strict parsing: unknown options and a wrong number of arguments are usage errors. */
export function parseCommand (argv: string[], options: Options, positionals = 0): { values: Values; positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: positionals > 0, strict: true })
  } catch (error) {
    // parseArgs quotes what it was given, which may be a credential.
    throw new UsageError(maskText((error as Error).message))
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(`expected ${positionals} argument${positionals === 1 ? '' : 's'}, got ${parsed.positionals.length}`)
  }
  return { values: parsed.values as Values, positionals: parsed.positionals }
}

export function optional (values: Values, name: string): string | undefined {
  const value = values[name]
  return typeof value === 'string' ? value : undefined
}

/** The store the options or the environment name (default: the embedded one). */
export function storeLocation (values: Values, io: CliIo): { databaseUrl?: string; dataDir?: string } {
  return {
    databaseUrl: optional(values, 'database-url') ?? (io.env.KEYGATE_DATABASE_URL || undefined),
    dataDir: optional(values, 'data-dir') ?? (io.env.KEYGATE_DATA_DIR || undefined)
  }
}

export async function withStore<T> (values: Values, io: CliIo, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ ...storeLocation(values, io), migrate: true })
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

export function print (io: CliIo, values: Values, json: unknown, text: () => string): void {
  io.stdout.write((values.json === true ? JSON.stringify(json) : text()) + '\n')
}

export function table (header: string[], rows: string[][], nextCursor: string | null): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
  const out = [line(header), ...rows.map(line)]
  if (nextCursor !== null) out.push(`(more: --cursor ${nextCursor})`)
  return out.join('\n')
}
