/**
 * Envoy's external authorization (`envoy.service.auth.v3.Authorization/Check`),
 * independent of any gRPC library: a decoded CheckRequest in, a CheckResponse
 * to encode out (proto field names, see proto/envoy/service/auth/v3/). The
 * same decision and the same answers as forward-auth:
 *
 * - allowed: gRPC OK and an OkHttpResponse that sets the identity headers and
 *   removes any client-sent copy of them (and, as an option, Authorization),
 *   and, under a rate limit or quota, adds the RateLimit headers to the answer
 *   the client gets (`response_headers_to_add`);
 * - refused: a DeniedHttpResponse with forward-auth's status, JSON body and
 *   challenge, and a non-OK gRPC status, which Envoy takes as a denial;
 * - a store or policy fault: a 503 denial (gRPC UNAVAILABLE), never an OK,
 *   and never the transport error that `failure_mode_allow` would let through.
 */
import type { Authorizer } from '../authorizer/authorizer.js'
import type { AuthorizationResult } from '../authorizer/result.js'
import { CREDENTIAL_HEADERS } from '../credentials/parse.js'
import { decisionTarget } from '../lib/target.js'
import { addRateLimitHeaders, denialOf, headerPicker, identityHeadersOf, internalError, invalidRequest, type HttpAnswer } from './http.js'
import { trustFunction, type TrustProxy } from './node-http.js'

/** google.rpc.Code values, as CheckResponse.status carries them. */
export const GRPC_CODE = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16
} as const

/** The namespace Envoy files CheckResponse.dynamic_metadata under. */
export const METADATA_NAMESPACE = 'envoy.filters.http.ext_authz'

// The decoded messages: a field absent from the wire is absent, null (a message) or its type's default.
export interface HeaderValue { key?: string; value?: string; raw_value?: Uint8Array }
export interface CheckRequest {
  attributes?: {
    source?: { address?: { socket_address?: { address?: string } | null } | null } | null
    request?: {
      http?: {
        method?: string
        path?: string
        host?: string
        scheme?: string
        headers?: Record<string, string>
        header_map?: { headers?: HeaderValue[] } | null
      } | null
    } | null
  } | null
}

interface HeaderValueOption {
  header: { key: string; value: string }
  append: { value: false }
  /** HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD */
  append_action: 2
}
type MetadataStruct = { fields: Record<string, { stringValue: string }> }
export interface CheckResponse {
  status: { code: number; message?: string }
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: string[]; response_headers_to_add?: HeaderValueOption[] }
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string }
  dynamic_metadata?: MetadataStruct
}

/** The gRPC caller (Envoy): its address and whether it came over TLS. */
export interface CheckPeer {
  address: string | null
  tls: boolean
}

export interface ExtAuthzOptions {
  authorizer: Pick<Authorizer, 'authorize'>
  /**
   * Whom to believe about the request's scheme and the client's address
   * (`attributes.request.http.scheme`, `attributes.source.address`), as for
   * X-Forwarded-Proto and X-Forwarded-For: by default no one, so the scheme
   * is the gRPC connection's and the client is the gRPC peer.
   */
  trustProxy?: TrustProxy
  /** Remove the Authorization header from an allowed request before the upstream (default false). */
  removeAuthorization?: boolean
}

/** A Check's answer, with the decision it carries (null for a request that was not decided). */
export interface CheckAnswer {
  response: CheckResponse
  result: AuthorizationResult | null
}

export type CheckHandler = (request: CheckRequest, peer: CheckPeer) => Promise<CheckAnswer>

const MALFORMED = invalidRequest('the CheckRequest names no HTTP request: attributes.request.http needs a method and a path')

export function extAuthzCheck (options: ExtAuthzOptions): CheckHandler {
  const { authorizer } = options
  const trust = trustFunction(options.trustProxy ?? false)
  const removeAuthorization = options.removeAuthorization === true
  const pick = headerPicker(CREDENTIAL_HEADERS)
  return async (request, peer) => {
    const http = request.attributes?.request?.http
    if (http == null || !http.method || !http.path) return { response: denied(MALFORMED, null), result: null }
    const headers = pick(flatHeaders(http))
    const trusted = trust !== null && peer.address !== null && trust(peer.address, 0)
    const result = await authorizer.authorize({
      method: http.method,
      path: decisionTarget(http.path),
      headers,
      scheme: (trusted ? http.scheme === 'https' : peer.tls) ? 'https' : 'http',
      client: { address: (trusted ? request.attributes?.source?.address?.socket_address?.address : undefined) || peer.address }
    })
    if (!result.allow) return { response: denied(denialOf(result), result), result }
    return { response: { status: { code: GRPC_CODE.OK }, ok_response: allowedResponse(result, removeAuthorization), dynamic_metadata: metadataOf(result) }, result }
  }
}

/** Allowed answers' encodings kept at most (one per identity: subject, actor, key, credential type). */
const ENCODED_ALLOWED_MAX = 10_000

interface EncodedAllowed {
  bytes: Uint8Array
  /** Where the decision id is written: the x-keygate-decision-id header and the decision_id metadata. */
  offsets: number[]
}

/**
 * The bytes of answers, by `encode` (a protobuf encoder). Two allowed answers
 * of the same identity differ only by their decision id, and ids of one
 * length (a UUID) give the same layout: the bytes of the first are kept, and
 * each later one is a copy with its own id written where the first one's was.
 * Every other answer (a denial, or an allow with RateLimit fields) is
 * encoded in full.
 */
export function checkResponseEncoder (encode: (response: CheckResponse) => Uint8Array): (answer: CheckAnswer) => Uint8Array {
  const encoded = new Map<string, EncodedAllowed | null>()
  return ({ response, result }) => {
    // A limited key's answers carry its RateLimit state, which changes from one to the next.
    if (result === null || !result.allow || result.rateLimit !== undefined) return encode(response)
    const id = result.decisionId
    const idBytes = Buffer.byteLength(id)
    const key = `${result.subject ?? ''}\n${result.actor ?? ''}\n${result.credential.id ?? ''}\n${result.credential.type}\n${idBytes}`
    const kept = encoded.get(key)
    if (kept === null) return encode(response)
    if (kept !== undefined) {
      const bytes = Buffer.from(kept.bytes)
      for (const offset of kept.offsets) bytes.write(id, offset, idBytes, 'utf8')
      return bytes
    }
    const bytes = encode(response)
    if (encoded.size >= ENCODED_ALLOWED_MAX) encoded.clear()
    encoded.set(key, encodedAllowed(bytes, id))
    return bytes
  }
}

/** The id's places in `bytes`; null (encode in full) unless it is in exactly its two places, with no other copy of it. */
function encodedAllowed (bytes: Uint8Array, decisionId: string): EncodedAllowed | null {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const offsets: number[] = []
  for (let at = buffer.indexOf(decisionId); at !== -1; at = buffer.indexOf(decisionId, at + 1)) offsets.push(at)
  return decisionId.length > 0 && offsets.length === 2 ? { bytes: Uint8Array.from(buffer), offsets } : null
}

/** The answer to a Check that failed outside the decision (which answers its own faults with a 503). */
export function checkFailed (): CheckResponse {
  return denied(internalError(), null)
}

/** `headers`, or `header_map` under Envoy's `encode_raw_headers`, as Node's rawHeaders: name, value, name, value… */
function flatHeaders (http: NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']>): string[] {
  const flat: string[] = []
  const entries = http.header_map?.headers
  if (entries !== undefined && entries.length > 0) {
    for (const entry of entries) {
      const raw = entry.raw_value
      flat.push(entry.key ?? '', raw !== undefined && raw.length > 0 ? Buffer.from(raw).toString('latin1') : entry.value ?? '')
    }
    return flat
  }
  for (const name in http.headers) flat.push(name, http.headers[name] as string)
  return flat
}

function allowedResponse (result: AuthorizationResult, removeAuthorization: boolean): NonNullable<CheckResponse['ok_response']> {
  const headers: HeaderValueOption[] = []
  // Envoy removes after it sets: an identity header is either set (overwriting the client's) or removed.
  const remove: string[] = removeAuthorization ? ['authorization'] : []
  for (const [key, value] of Object.entries(identityHeadersOf(result))) {
    if (value === '') remove.push(key)
    else headers.push(overwrite(key, value))
  }
  if (result.rateLimit === undefined) return { headers, headers_to_remove: remove }
  const limits: Record<string, string> = {}
  addRateLimitHeaders(limits, result)
  return { headers, headers_to_remove: remove, response_headers_to_add: Object.entries(limits).map(([key, value]) => overwrite(key, value)) }
}

const denials = new WeakMap<HttpAnswer, Omit<CheckResponse, 'dynamic_metadata'>>()

/** A refusal as Envoy sends it on: forward-auth's answer, less Content-Length (Envoy sets its own). */
function denied (answer: HttpAnswer, result: AuthorizationResult | null): CheckResponse {
  let response = denials.get(answer)
  if (response === undefined) {
    response = {
      status: { code: grpcCodeOf(answer.status) },
      denied_response: {
        status: { code: answer.status },
        headers: Object.entries(answer.headers).filter(([name]) => name !== 'content-length').map(([name, value]) => overwrite(name, value)),
        body: answer.body
      }
    }
    // The frozen answers are shared by every refusal of their kind; so is their conversion.
    if (Object.isFrozen(answer)) denials.set(answer, response)
  }
  return result === null ? response : { ...response, dynamic_metadata: metadataOf(result) }
}

function grpcCodeOf (status: number): number {
  switch (status) {
    case 400: return GRPC_CODE.INVALID_ARGUMENT
    case 401: return GRPC_CODE.UNAUTHENTICATED
    case 403: return GRPC_CODE.PERMISSION_DENIED
    case 429: return GRPC_CODE.RESOURCE_EXHAUSTED
    case 503: return GRPC_CODE.UNAVAILABLE
    default: return GRPC_CODE.INTERNAL
  }
}

function overwrite (key: string, value: string): HeaderValueOption {
  // `append: false` is what every Envoy version reads first; append_action says the same to newer readers.
  return { header: { key, value }, append: { value: false }, append_action: 2 }
}

/** For Envoy's access logs and rate-limit descriptors (`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:subject)%`). */
function metadataOf (result: AuthorizationResult): MetadataStruct {
  const fields: MetadataStruct['fields'] = { decision_id: { stringValue: result.decisionId } }
  if (result.subject !== null) fields.subject = { stringValue: result.subject }
  if (result.actor !== null) fields.actor = { stringValue: result.actor }
  if (result.credential.id !== null) fields.key_id = { stringValue: result.credential.id }
  if (result.credential.type !== 'none') fields.credential_type = { stringValue: result.credential.type }
  return { fields }
}
