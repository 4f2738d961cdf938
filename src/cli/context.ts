import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { loadConfig, sessionSettingsOf, type Config } from '../config/index.js'
import { postgresUrl } from '../config/parse.js'
import { redactUrl } from '../lib/url.js'
import { Sessions } from '../sessions/index.js'
import { DEFAULT_DATA_DIR, openStore } from '../store/index.js'
import { adminSocketPath, callAdminSocket } from './admin-socket.js'
import { OperationError, type OperationContext, type Operations } from './operations.js'

export interface CliIo {
  stdout: { write(chunk: string): unknown }
  stderr: { write(chunk: string): unknown }
  env: NodeJS.ProcessEnv
}

/** The options every command takes, before or after it. */
export interface Globals {
  databaseUrl?: string
  dataDir?: string
  json?: boolean
  quiet?: boolean
}

export type Render = (result: any) => string

export interface Runner {
  io: CliIo
  operations: Operations
  /** The checked configuration with the global options applied; without the signing-secret rule (see loadConfig). */
  config(command: Command): Config
  /**
   * Runs operation `name` on the store the options and the environment name,
   * here or through the server running on it, and prints the result: the
   * JSON with --json, else `render(result)`.
   */
  run(command: Command, name: string, params: Record<string, unknown>, render: Render, options?: { creates?: boolean }): Promise<void>
  /** Runs an operation as run() does, without printing its result. */
  call(command: Command, name: string, params: Record<string, unknown>, options?: { creates?: boolean }): Promise<unknown>
  /** Prints a result as run() does. */
  print(command: Command, result: unknown, render: Render): void
  note(command: Command, line: string): void
}

export function createRunner (io: CliIo, operations: Operations): Runner {
  const globals = (command: Command): Globals => command.optsWithGlobals<Globals>()
  const config = (command: Command): Config => {
    const { databaseUrl, dataDir } = globals(command)
    return loadConfig({
      ...io.env,
      ...(databaseUrl === undefined ? {} : { KEYGATE_DATABASE_URL: databaseUrl }),
      ...(dataDir === undefined ? {} : { KEYGATE_DATA_DIR: dataDir })
    }, { sessions: false })
  }
  const note = (command: Command, line: string): void => {
    if (globals(command).quiet !== true) io.stderr.write(`keygate: ${line}\n`)
  }
  const print = (command: Command, result: unknown, render: Render): void => {
    io.stdout.write((globals(command).json === true ? JSON.stringify(result) : render(result)) + '\n')
  }

  const call: Runner['call'] = async (command, name, params, options = {}) => {
    const operation = operations[name]
    if (operation === undefined) throw new TypeError(`no operation ${name}`)
    return await withStore(config(command), options.creates === true, (line) => { note(command, line) },
      async (context) => await operation(context, params),
      async (socket) => await callAdminSocket(socket, name, params))
  }
  return {
    io,
    operations,
    config,
    note,
    print,
    call,
    async run (command, name, params, render, options = {}) {
      print(command, await call(command, name, params, options), render)
    }
  }
}

/** Ends the command with this exit code, having said why already: control flow, not one of the coded errors. */
export class ExitCode extends Error {
  constructor (readonly exitCode: number) {
    super(`exit ${exitCode}`)
  }
}

/**
 * Opens the store the configuration names and runs `local` on it; for an
 * embedded store that a running server holds, runs `remote` through that
 * server's admin socket instead. Says which store it uses through `say`.
 * Refuses to create a new embedded store unless `creates`.
 */
async function withStore<T> (
  config: Config,
  creates: boolean,
  say: (line: string) => void,
  local: (context: OperationContext) => Promise<T>,
  remote: (socket: string) => Promise<{ result: unknown } | null>
): Promise<T> {
  if (config.databaseUrl === undefined) {
    const given = config.dataDir ?? DEFAULT_DATA_DIR
    const dataDir = given.startsWith('memory://') ? given : resolve(given)
    const socket = adminSocketPath(dataDir)
    const answer = await remote(socket)
    if (answer !== null) {
      say(`store: embedded ${dataDir}, through the server running on it (${socket})`)
      return answer.result as T
    }
    if (!creates && !dataDir.startsWith('memory://') && !existsSync(dataDir)) {
      throw new OperationError(`no embedded store at ${dataDir}: run keygate where \`keygate serve\` (npm start) keeps its .keygate/, ` +
        'or pass --data-dir DIR or --database-url URL (keygate bootstrap or migrate creates a new store)')
    }
    say(`store: embedded ${dataDir}`)
    return await open({ ...config, dataDir }, local)
  }
  say(`store: PostgreSQL ${redactUrl(config.databaseUrl)}`)
  return await open(config, local)
}

async function open<T> (config: Config, fn: (context: OperationContext) => Promise<T>): Promise<T> {
  const store = await openStore({ databaseUrl: config.databaseUrl, listenUrl: config.listenDatabaseUrl, dataDir: config.dataDir, migrate: true })
  let sessions: Sessions | undefined
  try {
    return await fn({
      store,
      policyBundle: config.policyBundle,
      sessions: async () => {
        sessions ??= new Sessions({ ...(await sessionSettingsOf(config)).options, db: store.database })
        return sessions
      }
    })
  } finally {
    await sessions?.close()
    await store.close()
  }
}

/** Option-value parsers: a bad value is a usage error (exit 2). */
export function wholeNumber (min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`)
    }
    return Number(value)
  }
}

export function databaseUrlOption (value: string): string {
  try {
    return postgresUrl(value)
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message)
  }
}

/** For repeatable options: `--scope a --scope b`. */
export function collect (value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

export function table (header: string[], rows: string[][], cursor?: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
  const out = [line(header), ...rows.map(line)]
  if (cursor !== undefined) out.push(`(more: --cursor ${cursor})`)
  return out.join('\n')
}

/** Epoch milliseconds (as the API gives them) for people. */
export function time (ms: number | null | undefined, none = ''): string {
  return ms === null || ms === undefined ? none : new Date(ms).toISOString()
}

/** `<group> limit <id>`: a key's or an account's rate limit and quota, set or cleared (keys.ts, users.ts). */
export function limitCommand (group: Command, runner: Runner, operation: string, description: string): void {
  group.command('limit').description(description)
    .argument('<id>')
    .option('--rate <requests/seconds>', 'e.g. 100/1 or 1000/60')
    .option('--quota <requests/period>', 'e.g. 10000/month or 500/day')
    .option('--clear', 'no limits')
    .action(async (id: string, o: { rate?: string; quota?: string; clear?: boolean }, c: Command) => {
      if ((o.clear === true) === (o.rate !== undefined || o.quota !== undefined)) c.error('error: give --rate and/or --quota, or --clear', { exitCode: 2, code: 'keygate.usage' })
      await runner.run(c, operation, { id, ...o }, (r: { id: string; limits: unknown }) => `${r.id}: limits ${JSON.stringify(r.limits)}`)
    })
}
