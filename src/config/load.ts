import { closest, distance } from 'fastest-levenshtein'
import { KeygateError, type KeygateErrorCode } from '../errors.js'
import { TOOLING_VARIABLES, VARIABLES, type Config, type Variable } from './variables.js'

/** One or more KEYGATE_* variables are wrong; `problems` lists every one, each naming its variable (never a secret's value). */
export class ConfigError extends KeygateError {
  static override code: KeygateErrorCode = 'CONFIG_INVALID'
  readonly problems: string[]

  constructor (problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.problems = problems
  }
}

type Field = keyof Config

/** Rules that involve more than one variable: each returns a problem, or null. `given` says which were set (well-formed or not). */
const CHECKS: Array<(config: Config, given: (field: Field) => boolean) => string | null> = [
  (c) => c.databaseUrl !== undefined && c.dataDir !== undefined
    ? 'KEYGATE_DATA_DIR is for the embedded store: unset it or KEYGATE_DATABASE_URL'
    : null,
  (c) => c.databaseUrl === undefined && (c.databaseReplicaUrls.length > 0 || c.listenDatabaseUrl !== undefined)
    ? 'KEYGATE_DATABASE_REPLICA_URLS and KEYGATE_LISTEN_DATABASE_URL need KEYGATE_DATABASE_URL (the primary)'
    : null,
  (_c, given) => given('tlsCert') !== given('tlsKey')
    ? 'KEYGATE_TLS_CERT and KEYGATE_TLS_KEY go together: set both (PEM file paths) or neither'
    : null,
  (c) => c.workers !== undefined && c.workers > 1 && c.databaseUrl === undefined
    ? `KEYGATE_WORKERS=${c.workers} needs KEYGATE_DATABASE_URL: only one process may open the embedded store`
    : null,
  (c) => c.grpcPort !== undefined && c.grpcPort !== 0 && c.grpcPort === c.port
    ? `KEYGATE_GRPC_PORT=${c.grpcPort}: KEYGATE_PORT already serves HTTP there; give gRPC a port of its own`
    : null,
  (c, given) => !c.decisionLog.some((sink) => sink.type === 'http') && (given('decisionLogHeaders') || given('decisionLogTokenFile') || given('decisionLogTimeoutMs'))
    ? 'KEYGATE_DECISION_LOG_HEADERS, KEYGATE_DECISION_LOG_TOKEN_FILE and KEYGATE_DECISION_LOG_TIMEOUT_MS are for an http(s):// decision log: add one to KEYGATE_DECISION_LOG or unset them'
    : null,
  (c) => [c.decisionLogTokenFile !== undefined, 'authorization' in c.decisionLogHeaders, c.decisionLog.some((sink) => sink.type === 'http' && new URL(sink.url).username !== '')]
    .filter(Boolean).length > 1
    ? 'the collector\'s Authorization is given twice: keep one of KEYGATE_DECISION_LOG_TOKEN_FILE, Authorization in KEYGATE_DECISION_LOG_HEADERS, and user:password@ in the KEYGATE_DECISION_LOG URL'
    : null,
  (c) => c.decisionLogBatch > c.decisionLogBuffer
    ? 'KEYGATE_DECISION_LOG_BATCH must not exceed KEYGATE_DECISION_LOG_BUFFER'
    : null
]

/** Session tokens need a signing secret that every instance shares when they share a PostgreSQL server. */
export function signingSecretProblem (config: Pick<Config, 'databaseUrl' | 'signingSecret'>): string | null {
  return config.databaseUrl !== undefined && config.signingSecret === undefined
    ? 'KEYGATE_SIGNING_SECRET is required with KEYGATE_DATABASE_URL: every instance must share it (e.g. `openssl rand -base64 32`)'
    : null
}

/**
 * Reads and checks every KEYGATE_* variable, once, at start. An empty value
 * means unset. Throws ConfigError listing every problem together.
 * `sessions: false` is for a command that mints no session token (most of the
 * CLI): it may then run against PostgreSQL without the signing secret.
 */
export function loadConfig (env: NodeJS.ProcessEnv, options: { sessions?: boolean } = {}): Config {
  const problems: string[] = []
  const config: Record<string, unknown> = {}
  const set = new Set<string>()
  for (const [field, variable] of Object.entries(VARIABLES) as Array<[string, Variable<unknown>]>) {
    const value = env[variable.name]?.trim()
    if (value === undefined || value === '') {
      config[field] = variable.fallback
      continue
    }
    set.add(field)
    try {
      config[field] = variable.parse(value)
    } catch (error) {
      const shown = variable.secret === true ? variable.name : `${variable.name}=${JSON.stringify(value)}`
      problems.push(`${shown}: ${(error as Error).message}`)
      config[field] = variable.fallback
    }
  }
  const checked = config as Config
  for (const check of options.sessions === false ? CHECKS : [...CHECKS, signingSecretProblem]) {
    const problem = check(checked, (field) => set.has(field))
    if (problem !== null) problems.push(problem)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return checked
}

const KNOWN: ReadonlySet<string> = new Set<string>([...Object.values(VARIABLES).map((v) => v.name), ...TOOLING_VARIABLES])
const NAMES = Object.values(VARIABLES).map((v) => v.name)

/** A warning for every KEYGATE_* name Keygate does not read, naming the closest one it does (a typo is otherwise silent). */
export function configWarnings (env: NodeJS.ProcessEnv): string[] {
  const warnings: string[] = []
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('KEYGATE_') || KNOWN.has(name)) continue
    const guess = closest(name, NAMES)
    // Close enough to be a typo: a few edits, not a different word.
    const near = distance(name, guess) <= Math.max(2, Math.floor(guess.length / 5))
    warnings.push(`${name} is not a Keygate variable, so it is ignored${near ? ` (did you mean ${guess}?)` : ''}`)
  }
  return warnings
}
