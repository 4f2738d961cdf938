/**
 * gRPC over HTTP/2 (gRPC's PROTOCOL-HTTP2.md), server side, on node:http2
 * (nghttp2: framing, HPACK, flow control, SETTINGS, GOAWAY and its flood
 * protections). This file adds the gRPC layer on node:http2's 'stream' event,
 * the cheapest path it has (no compatibility request/response objects):
 * length-prefixed messages, grpc-status/grpc-message trailers, grpc-timeout
 * deadlines, cancellation.
 *
 * What it refuses: a request that is not HTTP/2 (over TLS without ALPN h2, an
 * HTTP/1 answer 505; over plain TCP, nghttp2's GOAWAY for a bad preface), a
 * method other than POST (405), a content-type other than application/grpc*
 * (415), compressed messages (UNIMPLEMENTED), an unknown method (UNIMPLEMENTED),
 * a message over MAX_MESSAGE_BYTES (RESOURCE_EXHAUSTED).
 */
import {
  createSecureServer,
  createServer as createH2cServer,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream
} from 'node:http2'
import type { Socket } from 'node:net'

/** gRPC status codes (the ones the transport and Keygate's services answer with). */
export const STATUS = {
  OK: 0,
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14
} as const

/** One call, as a method handler sees it. */
export interface GrpcCall {
  /** The peer's IP address (null once its socket is gone) and whether the connection is TLS. */
  readonly peer: { address: string | null; tls: boolean }
  /** True once the client cancelled (RST_STREAM), the deadline passed, the call ended or its connection closed. */
  readonly done: boolean
  /** A unary answer: the message, then status OK. */
  reply(message: Uint8Array): void
  /** A server stream's next message. */
  send(message: Uint8Array): void
  /** Ends the call with a status (trailers); with none sent, a trailers-only answer. */
  end(code: number, details?: string): void
  /**
   * Called once when the call is over for another cause than the handler's
   * answer (cancelled, deadline passed, connection gone). The handler must
   * still end() it (the answer is dropped).
   */
  onAbort(listener: () => void): void
}

/** A method: the request message (one, uncompressed) and the call to answer on. */
export type GrpcHandler = (message: Buffer, call: GrpcCall) => void

export interface GrpcTransportOptions {
  host: string
  port: number
  /** By full path: `/package.Service/Method`. */
  methods: Record<string, GrpcHandler>
  tls?: { cert: Buffer; key: Buffer }
}

export interface GrpcTransport {
  port: number
  /** Stops accepting, sends GOAWAY, calls `beforeDrain` (to end long calls), waits for calls in flight up to `graceMs`, then cuts. */
  close(graceMs: number, beforeDrain?: () => void): Promise<void>
}

/** gRPC's usual receive limit for one message. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
const H2_OPTIONS = {
  settings: {
    /** Calls at once on one connection. */
    maxConcurrentStreams: 1000,
    initialWindowSize: 1 << 20,
    maxHeaderListSize: 16_384
  },
  /** MB of nghttp2 memory for one session (its streams, header tables, queued output) before new streams are refused. */
  maxSessionMemory: 10,
  /** A TLS client that negotiated no h2 is cut after this. */
  unknownProtocolTimeout: 10_000
}
const HTTP1_ANSWER = (() => {
  const body = '{"message":"gRPC needs HTTP/2: prior knowledge over TCP, or ALPN h2 over TLS","code":"HTTP_VERSION_NOT_SUPPORTED"}'
  return Buffer.from(`HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`, 'latin1')
})()

// Built once: node:http2 copies them into each answer.
const RESPONSE_HEADERS: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' }
const OK_TRAILERS: OutgoingHttpHeaders = { 'grpc-status': '0' }
const REFUSED_405: OutgoingHttpHeaders = { ':status': 405, allow: 'POST' }
const REFUSED_415: OutgoingHttpHeaders = { ':status': 415 }
const RESPOND_WAIT_TRAILERS = { waitForTrailers: true }
const RESPOND_END = { endStream: true }

export async function listenGrpcTransport (options: GrpcTransportOptions): Promise<GrpcTransport> {
  const { methods } = options
  const tls = options.tls !== undefined
  const h2 = options.tls === undefined
    ? createH2cServer(H2_OPTIONS)
    : createSecureServer({ ...H2_OPTIONS, noDelay: true, cert: options.tls.cert, key: options.tls.key, allowHTTP1: false })
  const sessions = new Set<Http2Session>()
  h2.on('session', (session) => {
    sessions.add(session)
    session.once('close', () => { sessions.delete(session) })
    session.on('error', () => {})
  })
  h2.on('stream', (stream, headers) => { serveStream(stream, headers, methods, tls) })
  // A failed TLS handshake, or a client that negotiated no h2, concerns that client only.
  h2.on('tlsClientError', () => {})
  h2.on('unknownProtocol', (socket: Socket) => { socket.end(HTTP1_ANSWER) })

  await new Promise<void>((resolve, reject) => {
    h2.once('error', reject)
    h2.listen(options.port, options.host, () => { h2.off('error', reject); resolve() })
  })
  const address = h2.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : options.port,
    async close (graceMs, beforeDrain) {
      const stopped = new Promise<void>((resolve) => { h2.close(() => { resolve() }) })
      // GOAWAY; each session ends once its streams are over.
      for (const session of sessions) session.close()
      beforeDrain?.()
      const cut = setTimeout(() => { for (const session of sessions) session.destroy() }, graceMs)
      await Promise.all([stopped, ...[...sessions].map(async (session) => await new Promise<void>((resolve) => { session.once('close', resolve) }))])
      clearTimeout(cut)
    }
  }
}

function serveStream (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, methods: Record<string, GrpcHandler>, tls: boolean): void {
  stream.on('error', () => {})
  if (headers[':method'] !== 'POST') { stream.respond(REFUSED_405, RESPOND_END); return }
  const contentType = headers['content-type'] ?? ''
  if (contentType !== 'application/grpc' && !contentType.startsWith('application/grpc+proto') && !contentType.startsWith('application/grpc;')) {
    stream.respond(REFUSED_415, RESPOND_END)
    return
  }
  const path = headers[':path'] ?? ''
  const handler = methods[path]
  const encoding = headers['grpc-encoding']
  let headersSent = false
  let done = false
  let trailers = OK_TRAILERS
  let onAbort: (() => void) | undefined
  let deadline: NodeJS.Timeout | undefined

  const trailersOnly = (code: number, details?: string): void => {
    const answer: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code) }
    if (details !== undefined) answer['grpc-message'] = percentEncode(details)
    stream.respond(answer, RESPOND_END)
  }
  const finish = (code: number, details?: string): void => {
    done = true
    clearTimeout(deadline)
    if (stream.destroyed || stream.closed) return
    if (!headersSent) { headersSent = true; trailersOnly(code, details); return }
    if (code !== STATUS.OK || details !== undefined) {
      trailers = { 'grpc-status': String(code) }
      if (details !== undefined) trailers['grpc-message'] = percentEncode(details)
    }
    stream.end()
  }
  /** The message, prefixed, in one buffer: one DATA write; `last` ends the stream with it (then OK trailers). */
  const sendMessage = (message: Uint8Array, last = false): void => {
    if (stream.destroyed || stream.closed) return
    if (!headersSent) {
      headersSent = true
      stream.respond(RESPONSE_HEADERS, RESPOND_WAIT_TRAILERS)
      stream.once('wantTrailers', () => { stream.sendTrailers(trailers) })
    }
    const data = Buffer.allocUnsafe(5 + message.length)
    data[0] = 0
    data.writeUInt32BE(message.length, 1)
    data.set(message, 5)
    if (last) stream.end(data)
    else stream.write(data)
  }

  if (encoding !== undefined && encoding !== 'identity') { finish(STATUS.UNIMPLEMENTED, `grpc-encoding ${encoding} is not supported`); return }
  if (handler === undefined) { finish(STATUS.UNIMPLEMENTED, `unknown method ${path}`); return }
  const ms = timeoutMs(String(headers['grpc-timeout'] ?? ''))
  if (ms !== null) {
    deadline = setTimeout(() => {
      if (done) return
      finish(STATUS.DEADLINE_EXCEEDED, 'the deadline passed')
      onAbort?.()
    }, ms)
  }
  stream.once('close', () => {
    clearTimeout(deadline)
    if (done) return
    done = true
    onAbort?.()
  })

  let first: Buffer | null = null
  let chunks: Buffer[] | null = null
  let length = 0
  stream.on('data', (chunk: Buffer) => {
    if (done) return
    length += chunk.length
    if (length > MAX_MESSAGE_BYTES + 5) { finish(STATUS.RESOURCE_EXHAUSTED, `a message larger than ${MAX_MESSAGE_BYTES} bytes`); return }
    if (first === null) first = chunk
    else (chunks ??= [first]).push(chunk)
  })
  stream.once('end', () => {
    if (done) return
    const body = chunks !== null ? Buffer.concat(chunks) : first ?? Buffer.alloc(0)
    if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) { finish(STATUS.INTERNAL, 'a unary or server-streaming call needs exactly one message'); return }
    if (body[0] !== 0) { finish(STATUS.UNIMPLEMENTED, 'compressed messages are not supported'); return }
    const call: GrpcCall = {
      get peer () { return { address: stream.session?.socket?.remoteAddress ?? null, tls } },
      get done () { return done },
      reply (message) {
        if (done) return
        done = true
        clearTimeout(deadline)
        sendMessage(message, true)
      },
      send (message) { if (!done) sendMessage(message) },
      end (code, details) { if (!done) finish(code, details) },
      onAbort (listener) { onAbort = listener }
    }
    try {
      handler(body.subarray(5), call)
    } catch {
      if (!done) finish(STATUS.INTERNAL, 'the handler failed')
    }
  })
}

const TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }

/** grpc-timeout (`1-8 digits` and a unit) in ms, or null for none or a malformed one. Node's timers stop at 2^31-1 ms. */
export function timeoutMs (value: string): number | null {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value)
  if (match === null) return null
  return Math.min(2 ** 31 - 1, Math.ceil(Number(match[1]) * (TIMEOUT_UNITS[match[2] as string] as number)))
}

/** grpc-message: percent-encoded UTF-8, printable ASCII other than % as is. */
function percentEncode (message: string): string {
  let out = ''
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}
