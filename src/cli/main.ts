import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { maskText } from '../audit/mask.js'
import { configWarnings } from '../config/index.js'
import * as audit from './audit.js'
import { createRunner, databaseUrlOption, ExitCode, type CliIo, type Runner } from './context.js'
import * as doctor from './doctor.js'
import * as keys from './keys.js'
import type { Operations } from './operations.js'
import * as policy from './policy.js'
import * as serve from './serve.js'
import * as sessions from './sessions.js'
import * as store from './store.js'
import * as users from './users.js'

export type { CliIo } from './context.js'

const GROUPS = [store, users, keys, sessions, audit, policy, serve, doctor]

/** Every operation a command runs on a store; also what a server's admin socket answers. */
export const OPERATIONS: Operations = Object.assign({}, ...GROUPS.map((g) => 'operations' in g ? g.operations : {}))

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** Commander's own errors that mean "the command line is wrong". */
const HELP_OR_VERSION = new Set(['commander.helpDisplayed', 'commander.version'])

/**
 * Runs one CLI command; returns the exit code: 0, 1 for a refused or failed
 * operation (with the reason), 2 for a wrong command line (with a hint).
 * Never calls process.exit.
 */
export async function main (argv: string[], io: CliIo): Promise<number> {
  const runner = createRunner(io, OPERATIONS)
  const program = buildProgram(runner)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof ExitCode) return error.exitCode
    if (error instanceof CommanderError) return HELP_OR_VERSION.has(error.code) ? 0 : 2
    // A message, never a stack trace; and never a credential that reached one.
    io.stderr.write(`keygate: ${maskText(error instanceof Error ? error.message : String(error))}\n`)
    return 1
  }
}

function buildProgram (runner: Runner): Command {
  const { io } = runner
  const program = new Command('keygate')
    .description('Keygate: a declarative authorizer for HTTP APIs with bearer credentials')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--database-url <url>', 'PostgreSQL server (default: KEYGATE_DATABASE_URL; without it, the embedded store)', databaseUrlOption)
    .option('--data-dir <dir>', 'embedded store folder (default: KEYGATE_DATA_DIR or .keygate/data)')
    .option('--json', 'machine-readable output, as the HTTP API gives it (epoch ms, cursor)')
    .option('-q, --quiet', 'do not say which store is used (stderr)')
    .helpCommand(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => { io.stdout.write(text) },
      writeErr: (text) => { io.stderr.write(text) },
      outputError: (text, write) => { write(maskText(text)) }
    })
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', `
Global options go before or after the command. Every command has --help, which never runs it.
The embedded store (.keygate/ in the current folder) is opened directly, or, while
\`keygate serve\` (npm start) runs on it, through that server's admin socket.
Exit codes: 0 done, 1 refused or failed (the reason on stderr), 2 wrong command line.`)
    .hook('preAction', () => {
      for (const warning of configWarnings(io.env)) io.stderr.write(`keygate: warning: ${warning}\n`)
    })
  for (const group of GROUPS) group.register(program, runner)
  return program
}
