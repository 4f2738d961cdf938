import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'

/**
 * Parsers for variable values. Each takes the trimmed, non-empty text and
 * returns the value or throws an Error whose message says what is expected
 * (the loader prefixes the variable's name).
 */
export type Parse<T> = (value: string) => T

export function text (value: string): string {
  return value
}

/** A path, or `off` (null). */
export function pathOrOff (value: string): string | null {
  return value.toLowerCase() === 'off' ? null : value
}

export function integer (min: number, max: number, unit = ''): Parse<number> {
  return (value) => {
    if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new Error(`must be a whole number${unit === '' ? '' : ` of ${unit}`} from ${min} to ${max}`)
    }
    return Number(value)
  }
}

export function decimal (min: number, max: number): Parse<number> {
  return (value) => {
    const number = Number(value)
    if (!/^\d+(\.\d+)?$/.test(value) || number < min || number > max) throw new Error(`must be a number from ${min} to ${max}`)
    return number
  }
}

export function boolean (value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true
  if (/^(false|0|no)$/i.test(value)) return false
  throw new Error('must be true or false')
}

export function oneOf<T extends string> (choices: readonly T[]): Parse<T> {
  return (value) => {
    const choice = choices.find((c) => c === value.toLowerCase())
    if (choice === undefined) throw new Error(`must be one of ${choices.join(', ')}`)
    return choice
  }
}

export function port (value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new Error('must be a port number from 0 to 65535')
  return Number(value)
}

export function host (value: string): string {
  if (isIP(value) === 0 && !/^[A-Za-z0-9.-]{1,253}$/.test(value)) throw new Error('must be an IP address or host name')
  return value
}

export function postgresUrl (value: string): string {
  if (!/^postgres(ql)?:\/\//.test(value)) throw new Error('must be a postgres:// URL')
  try {
    void new URL(value)
  } catch {
    throw new Error('is not a valid URL')
  }
  return value
}

/** One or more postgres:// URLs, separated by commas. */
export function postgresUrls (value: string): string[] {
  return value.split(',').map((entry, i) => {
    try {
      return postgresUrl(entry.trim())
    } catch (error) {
      // The URL holds a password: say which entry, never what it is.
      throw new Error(`entry ${i + 1} ${(error as Error).message}`)
    }
  })
}

/** A file path, or an http(s) URL. */
export function pathOrHttpUrl (value: string): string {
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
}

export function pemFile (path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new Error(`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
}

/** `true`/`false`, or a comma-separated list of addresses and CIDR ranges (a hop count is refused). */
export function trustProxy (value: string): boolean | string[] {
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

/** A shared bearer secret: at least 32 characters of RFC 6750's b64token alphabet (e.g. `openssl rand -base64 32`). */
export function bearerSecret (value: string): string {
  if (value.length < 32 || !/^[A-Za-z0-9\-._~+/]+=*$/.test(value)) {
    throw new Error('must be at least 32 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding), e.g. `openssl rand -base64 32`')
  }
  return value
}

/** `COUNT/SECONDS` (e.g. `50/60`), or `off` (null). */
export function perWindow (value: string): { count: number; windowSeconds: number } | null {
  if (/^off$/i.test(value)) return null
  const match = /^(\d{1,7})\s*\/\s*(\d{1,6})$/.exec(value)
  if (match === null || Number(match[1]) < 1 || Number(match[2]) < 1) throw new Error('expected COUNT/SECONDS, e.g. 50/60, or off')
  return { count: Number(match[1]), windowSeconds: Number(match[2]) }
}
