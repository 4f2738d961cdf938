/**
 * Keeps secrets out of everything the audit stage writes. The policy input
 * holds facts, not credentials, but an entry is checked anyway before it
 * exists: a field named like a credential loses its value, and any string
 * that looks like a secret key, a JWT or an Authorization value is masked
 * wherever it appears (a key pasted into a path, a future input field).
 */

export const MASK = '[masked]'

/** Field names whose values are never kept, whatever they hold. */
const SECRET_FIELD = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_]?key|token|access[-_]?token|refresh[-_]?token|id[-_]?token|secret|client[-_]?secret|password|passwd|key)$/i

// A secret key (sk- and its body; display prefixes are 6 characters, so 16+ is a real one),
// a JWT (three base64url parts, the first a JSON header), an Authorization value.
const SECRET_TEXT = new RegExp([
  'sk-[0-9A-Za-z]{16,}',
  'eyJ[A-Za-z0-9_-]{2,}\\.[A-Za-z0-9_-]{2,}\\.[A-Za-z0-9_-]*',
  '\\b(?:Bearer|Basic|Digest)\\s+[A-Za-z0-9\\-._~+/]{8,}=*'
].join('|'), 'gi')

/** Half a UTF-16 surrogate pair: no JSON a database stores (PostgreSQL's json and jsonb refuse its escape) can hold it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** The string with every secret-looking part replaced by MASK, and every lone surrogate by U+FFFD. */
export function maskText (text: string): string {
  LONE_SURROGATE.lastIndex = 0
  if (LONE_SURROGATE.test(text)) text = text.replace(LONE_SURROGATE, '\ufffd')
  // The common case, nothing to mask, allocates nothing.
  SECRET_TEXT.lastIndex = 0
  if (!SECRET_TEXT.test(text)) return text
  SECRET_TEXT.lastIndex = 0
  return text.replace(SECRET_TEXT, MASK)
}

/** True when the string holds something maskText would mask. */
export function looksSecret (text: string): boolean {
  SECRET_TEXT.lastIndex = 0
  return SECRET_TEXT.test(text)
}

/**
 * A deep copy of a JSON-like value with secrets masked: values of fields
 * named like credentials are replaced, strings are masked, anything that is
 * not JSON (functions, symbols, buffers) is dropped or masked.
 */
export function maskValue<T> (value: T): T {
  return mask(value, 0) as T
}

const MAX_DEPTH = 32
/** Frozen values are masked once: the decision memo shares one input's parts among many records. */
const CACHED_DEPTH = 1
const maskedFrozen = new WeakMap<object, unknown>()

function mask (value: unknown, depth: number): unknown {
  if (typeof value === 'string') return maskText(value)
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value
  if (depth > MAX_DEPTH) return MASK
  if (typeof value !== 'object') {
    // bigint, function, symbol, undefined: not JSON.
    return undefined
  }
  // Only near the top, where the depth limit cannot cut what is cached.
  const cacheable = depth <= CACHED_DEPTH && Object.isFrozen(value)
  if (cacheable) {
    const cached = maskedFrozen.get(value)
    if (cached !== undefined) return cached
  }
  const masked = maskObject(value, depth)
  if (cacheable && typeof masked === 'object' && masked !== null) maskedFrozen.set(value, Object.freeze(masked))
  return masked
}

function maskObject (value: object, depth: number): unknown {
  if (Array.isArray(value)) return value.map((item) => mask(item, depth + 1))
  if (value instanceof Date) return value.toISOString()
  if (ArrayBuffer.isView(value)) return MASK
  const out: Record<string, unknown> = {}
  for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
    if (item === undefined) continue
    out[name] = SECRET_FIELD.test(name) && item !== null ? MASK : mask(item, depth + 1)
  }
  return out
}
