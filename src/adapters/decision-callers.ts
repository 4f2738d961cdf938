/**
 * Who may ask the decision API. Its answers say whether a credential works and
 * whose it is, so it must not be an oracle for whoever can reach it:
 *
 * - With a caller token (`KEYGATE_DECISION_API_TOKEN`), every caller sends it
 *   as its own `Authorization: Bearer …` (OPA's `--authentication=token`).
 * - Without one, only callers on this host are answered: the connection comes
 *   from a loopback address and so does the client a trusted proxy names (a
 *   proxy on this host must not turn the whole network into "this host").
 *
 * A caller may state the address of the client it decides for (`client.address`,
 * for the decision log and security events) only when it holds the token or is a
 * proxy Keygate already believes about `X-Forwarded-For`; otherwise the address
 * recorded is the caller's own.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { notAuthenticated, notAuthorized, type HttpAnswer } from './http.js'
import { trustFunction, type TrustProxy } from './node-http.js'

export interface DecisionCallerOptions {
  /** The caller token; undefined: loopback callers only. */
  token?: string
  /** The app's own `trustProxy`. */
  trustProxy?: TrustProxy
}

/** What a decision API request says about its sender. */
export interface DecisionCaller {
  /** Every value of the request's own Authorization header (not the headers being decided). */
  authorization: readonly string[] | undefined
  /** The connection's peer address. */
  peer: string | undefined
  /** The client's address under the trust-proxy rules (Fastify's `request.ip`). */
  address: string | undefined
}

export type CallerVerdict =
  | { ok: true, mayStateClient: boolean }
  | { ok: false, answer: HttpAnswer }

// RFC 6750 §2.1 b64token; SP and HTAB around it are optional whitespace.
const BEARER = /^[ \t]*Bearer +([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i

export function decisionCallers (options: DecisionCallerOptions): (caller: DecisionCaller) => CallerVerdict {
  const expected = options.token === undefined ? null : digest(options.token)
  const trust = trustFunction(options.trustProxy ?? false)
  const trustedPeer = (peer: string | undefined): boolean => trust !== null && peer !== undefined && trust(peer, 0)
  return (caller) => {
    if (expected === null) {
      if (!isLoopback(caller.peer) || !isLoopback(caller.address)) return { ok: false, answer: notAuthorized() }
      return { ok: true, mayStateClient: trustedPeer(caller.peer) }
    }
    const values = caller.authorization ?? []
    if (values.length === 0) return { ok: false, answer: notAuthenticated(false) }
    const presented = values.length === 1 ? BEARER.exec(values[0] as string)?.[1] : undefined
    // Digests of equal length: the comparison takes the same time whatever was sent.
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) return { ok: false, answer: notAuthenticated(true) }
    return { ok: true, mayStateClient: true }
  }
}

function digest (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

const IPV4_MAPPED = /^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i

/** 127.0.0.0/8 or ::1, also written as an IPv4-mapped IPv6 address. */
export function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  const plain = address.replace(IPV4_MAPPED, '')
  return plain === '::1' || (/^127\.\d+\.\d+\.\d+$/.test(plain))
}
