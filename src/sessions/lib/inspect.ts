import { KEY_ID } from './ids.js'

/** Why a token was refused; for logs and tests, never for the client. */
export type TokenRejection =
  | 'too_long'
  | 'malformed'
  | 'header_invalid'
  | 'header_parameter_forbidden'
  | 'alg_not_allowed'
  | 'typ_not_allowed'
  | 'kid_invalid'
  | 'kid_unknown'
  | 'signature_invalid'
  | 'expired'
  | 'claims_invalid'
  | 'session_unknown'
  | 'session_mismatch'

export type Inspection = { ok: true, kid: string } | { ok: false, reason: TokenRejection }

/**
 * Three base64url parts, no padding, no whitespace; the signature exactly the
 * 64 bytes of Ed25519. (A JWE has five parts; a token with `==` or spaces has
 * characters outside the class.)
 */
const SHAPE = /^([A-Za-z0-9_-]{2,1024})\.([A-Za-z0-9_-]{2,})\.([A-Za-z0-9_-]{86})$/
/** The only header members Keygate writes; anything else (jku, x5u, jwk, x5c, crit, cty, b64, zip, enc, …) is refused. */
const HEADER_MEMBERS = new Set(['alg', 'kid', 'typ'])

/**
 * Everything checked about a token before any key lookup or crypto
 * (RFC 8725 §3.1, §3.11): the length cap first, then a strict shape, then
 * the header, decoded here rather than trusted to a library.
 */
export function inspectToken (token: unknown, maxLength: number, type: string): Inspection {
  if (typeof token !== 'string') return { ok: false, reason: 'malformed' }
  if (token.length > maxLength) return { ok: false, reason: 'too_long' }
  const parts = SHAPE.exec(token)
  if (parts === null || !parts.slice(1).every(isCanonicalBase64url)) return { ok: false, reason: 'malformed' }
  const header = decodeHeader(parts[1] as string)
  if (header === null) return { ok: false, reason: 'header_invalid' }
  for (const name of Object.keys(header)) {
    if (!HEADER_MEMBERS.has(name)) return { ok: false, reason: 'header_parameter_forbidden' }
  }
  // Exact, case-sensitive comparisons: "none", "None", "HS256", "eddsa" all fail here.
  if (header.alg !== 'EdDSA') return { ok: false, reason: 'alg_not_allowed' }
  if (header.typ !== type) return { ok: false, reason: 'typ_not_allowed' }
  if (typeof header.kid !== 'string' || !KEY_ID.test(header.kid)) return { ok: false, reason: 'kid_invalid' }
  return { ok: true, kid: header.kid }
}

/** Decoding and re-encoding gives the same text: no stray bits in the last character. */
function isCanonicalBase64url (part: string): boolean {
  return part.length % 4 !== 1 && Buffer.from(part, 'base64url').toString('base64url') === part
}

function decodeHeader (part: string): Record<string, unknown> | null {
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(part, 'base64url')))
  } catch {
    return null
  }
  return typeof header === 'object' && header !== null && !Array.isArray(header) ? header as Record<string, unknown> : null
}
