import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { DEFAULT_BUNDLE_PATH } from '../policy/engine.js'
import { validateEmail } from '../manage/accounts.js'

export interface ServerConfig {
  host: string
  port: number
  databaseUrl: string | undefined
  dataDir: string | undefined
  tls: { cert: Buffer; key: Buffer } | undefined
  /** Fastify's `trustProxy`: whom to believe about X-Forwarded-Proto and the client address. */
  trustProxy: boolean | string[]
  logLevel: LogLevel
  /** A bundle file, or the http(s) URL of a bundle server's bundle. */
  policyBundle: string
  /** How often to look for a new bundle; undefined: the reloader's default (5 s for a file, 30 s for a URL); 0: never. */
  policyPollSeconds: number | undefined
  /** Bearer token for the bundle server. */
  policyBundleToken: string | undefined
  /** Longest the store may take for one decision before it is a 503 (or served stale). */
  decisionTimeoutMs: number
  /** How long past its TTL a cached key or account may be served while the store fails. */
  staleIfErrorSeconds: number
  bootstrapEmail: string
  decisionReasons: boolean
  /** The bearer token callers of the decision API must send; undefined: only loopback callers are answered. */
  decisionApiToken: string | undefined
  /** Refuse credentials that arrived over plain HTTP (the policy's `require_https`). */
  requireHttps: boolean
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
type LogLevel = typeof LOG_LEVELS[number]

export class ConfigError extends Error {
  static code = 'CONFIG_INVALID'
  code = ConfigError.code
  constructor (problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

/** Reads and checks every KEYGATE_* variable once; reports all problems together. */
export function loadConfig (env: NodeJS.ProcessEnv): ServerConfig {
  const problems: string[] = []
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const check = <T>(name: string, fallback: T, parse: (value: string) => T): T => {
    const value = get(name)
    if (value === undefined) return fallback
    try {
      return parse(value)
    } catch (error) {
      problems.push(`${name}=${JSON.stringify(value)}: ${(error as Error).message}`)
      return fallback
    }
  }

  const databaseUrl = check('KEYGATE_DATABASE_URL', undefined, (value) => {
    if (!/^postgres(ql)?:\/\//.test(value)) throw new Error('must be a postgres:// URL')
    return value
  })
  const dataDir = get('KEYGATE_DATA_DIR')
  if (databaseUrl !== undefined && dataDir !== undefined) {
    problems.push('KEYGATE_DATA_DIR is for the embedded store: unset it or KEYGATE_DATABASE_URL')
  }
  const cert = get('KEYGATE_TLS_CERT')
  const key = get('KEYGATE_TLS_KEY')
  let tls: ServerConfig['tls']
  if ((cert === undefined) !== (key === undefined)) {
    problems.push('KEYGATE_TLS_CERT and KEYGATE_TLS_KEY go together: set both (PEM file paths) or neither')
  } else if (cert !== undefined && key !== undefined) {
    tls = { cert: check('KEYGATE_TLS_CERT', Buffer.alloc(0), readPem), key: check('KEYGATE_TLS_KEY', Buffer.alloc(0), readPem) }
  }

  // A secret: a problem with it is reported without its value.
  const decisionApiToken = get('KEYGATE_DECISION_API_TOKEN')
  if (decisionApiToken !== undefined && !(decisionApiToken.length >= 32 && /^[A-Za-z0-9\-._~+/]+=*$/.test(decisionApiToken))) {
    problems.push('KEYGATE_DECISION_API_TOKEN: must be at least 32 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding), e.g. `openssl rand -base64 32`')
  }

  const config: ServerConfig = {
    host: check('KEYGATE_HOST', '127.0.0.1', (value) => {
      if (isIP(value) === 0 && !/^[A-Za-z0-9.-]{1,253}$/.test(value)) throw new Error('must be an IP address or host name')
      return value
    }),
    port: check('KEYGATE_PORT', 8080, (value) => {
      if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new Error('must be a port number from 0 to 65535')
      return Number(value)
    }),
    databaseUrl,
    dataDir,
    tls,
    trustProxy: check('KEYGATE_TRUST_PROXY', false, parseTrustProxy),
    logLevel: check('KEYGATE_LOG_LEVEL', 'info', (value) => {
      const level = LOG_LEVELS.find((l) => l === value.toLowerCase())
      if (level === undefined) throw new Error(`must be one of ${LOG_LEVELS.join(', ')}`)
      return level
    }),
    policyBundle: check('KEYGATE_POLICY_BUNDLE', DEFAULT_BUNDLE_PATH, (value) => {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
        let url: URL
        try {
          url = new URL(value)
        } catch {
          throw new Error('is not a valid URL')
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('must be a file path or an http(s) URL')
      }
      return value
    }),
    policyPollSeconds: check('KEYGATE_POLICY_POLL_SECONDS', undefined, (value) => boundedNumber(value, 0, 86_400)),
    policyBundleToken: get('KEYGATE_POLICY_BUNDLE_TOKEN'),
    decisionTimeoutMs: check('KEYGATE_DECISION_TIMEOUT_MS', 2_000, (value) => {
      if (!/^\d{1,6}$/.test(value) || Number(value) < 1) throw new Error('must be a whole number of milliseconds from 1 to 999999')
      return Number(value)
    }),
    staleIfErrorSeconds: check('KEYGATE_STALE_IF_ERROR_SECONDS', 30, (value) => boundedNumber(value, 0, 86_400)),
    bootstrapEmail: check('KEYGATE_BOOTSTRAP_EMAIL', 'admin@keygate.localhost', (value) => validateEmail(value)),
    decisionReasons: check('KEYGATE_DECISION_REASONS', false, parseBoolean),
    decisionApiToken,
    requireHttps: check('KEYGATE_REQUIRE_HTTPS', false, parseBoolean)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

function boundedNumber (value: string, min: number, max: number): number {
  const number = Number(value)
  if (!/^\d+(\.\d+)?$/.test(value) || number < min || number > max) throw new Error(`must be a number from ${min} to ${max}`)
  return number
}

function readPem (path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new Error(`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
}

function parseBoolean (value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true
  if (/^(false|0|no)$/i.test(value)) return false
  throw new Error('must be true or false')
}

/** `true`/`false`, a number of proxy hops, or a comma-separated list of addresses and CIDR ranges. */
function parseTrustProxy (value: string): boolean | string[] {
  if (/^(true|false)$/i.test(value)) return value.toLowerCase() === 'true'
  if (/^\d+$/.test(value)) throw new Error('a hop count cannot tell a proxy from a client: give the proxies\' addresses or CIDR ranges, or true')
  const entries = value.split(',').map((entry) => entry.trim())
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/')
    const version = isIP(address ?? '')
    const maxBits = version === 4 ? 32 : 128
    if (version === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= maxBits))) {
      throw new Error(`${JSON.stringify(entry)} is not an address or CIDR range; expected true, false or a comma-separated list`)
    }
  }
  return entries
}
