/**
 * gRPC over HTTP/2 (gRPC's PROTOCOL-HTTP2.md), server side, on plain TCP or
 * TLS sockets: the subset of HTTP/2 (RFC 9113) a gRPC server needs, written
 * for the ext_authz hot path. node:http2 and @grpc/grpc-js spend most of a
 * check's CPU on per-stream objects (streams, header maps, call objects);
 * here a call is a small record, a frame is parsed in place, and the answers
 * of one read go out in one write.
 *
 * What it does: the connection preface and SETTINGS, HPACK, flow control both
 * ways, PING, GOAWAY (both ways, and for a graceful close), RST_STREAM
 * (cancellation), CONTINUATION, padding; grpc-timeout deadlines; unary and
 * server-streaming methods; length-prefixed messages without compression.
 * What it refuses: a request that is not HTTP/2 (an HTTP/1 answer 505), a
 * method other than POST (405), a content-type other than application/grpc*
 * (415), compressed messages (UNIMPLEMENTED), an unknown method (UNIMPLEMENTED).
 * No server push, no priorities (PRIORITY is read and ignored).
 */
import { createServer as createTcpServer, type Server as NetServer, type Socket } from 'node:net'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { encodeFields, HpackDecoder, HpackError, type HeaderField } from './hpack.js'

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
   * still end() it (the answer is dropped): until then the call counts
   * toward the connection's limit of calls at once.
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

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const
const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const
const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const

/** The largest frame Keygate reads: HTTP/2's default, never raised. */
const MAX_FRAME_SIZE = 16_384
/** Calls at once on one connection; a cancelled call counts until its handler answers (rapid-reset floods stay bounded). */
const MAX_CONCURRENT_STREAMS = 1000
/** The receive window Keygate gives each stream and the connection. */
const RECV_WINDOW = 1 << 20
/** gRPC's usual receive limit for one message. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
/** Request metadata, as SETTINGS_MAX_HEADER_LIST_SIZE counts it (names, values, 32 per field). */
const MAX_HEADER_LIST_SIZE = 16_384
/** A header block's compressed bytes, CONTINUATION frames included. */
const MAX_HEADER_BLOCK_BYTES = 65_536
/** A connection that has not sent the preface and SETTINGS by then is cut. */
const PREFACE_TIMEOUT_MS = 10_000
/** Output queued on a socket past which Keygate stops reading from it (a client that does not read its answers). */
const WRITE_HIGH_WATER = 1 << 20

const OUR_SETTINGS = settingsFrame([
  [SETTING.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS],
  [SETTING.INITIAL_WINDOW_SIZE, RECV_WINDOW],
  [SETTING.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_SIZE]
])
const CONNECTION_WINDOW = frame(FRAME.WINDOW_UPDATE, 0, 0, uint32(RECV_WINDOW - 65_535))
const SETTINGS_ACK = frame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(0))
const RESPONSE_HEADERS = encodeFields([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-accept-encoding', 'identity']])
const OK_TRAILERS = encodeFields([['grpc-status', '0']])
const HTTP1_ANSWER = (() => {
  const body = '{"message":"gRPC needs HTTP/2: prior knowledge over TCP, or ALPN h2 over TLS","code":"HTTP_VERSION_NOT_SUPPORTED"}'
  return Buffer.from(`HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`, 'latin1')
})()

export async function listenGrpcTransport (options: GrpcTransportOptions): Promise<GrpcTransport> {
  const connections = new Set<Connection>()
  let closing = false
  const accept = (socket: Socket, tls: boolean): void => {
    if (closing) { socket.destroy(); return }
    const connection = new Connection(socket, tls, options.methods, () => connections.delete(connection))
    connections.add(connection)
  }
  const server: NetServer = options.tls === undefined
    ? createTcpServer({ noDelay: true }, (socket) => { accept(socket, false) })
    : createTlsServer({ cert: options.tls.cert, key: options.tls.key, ALPNProtocols: ['h2'] }, (socket: TLSSocket) => {
      socket.setNoDelay(true)
      accept(socket, true)
    })
  // A failed TLS handshake concerns that client only.
  if (options.tls !== undefined) server.on('tlsClientError', () => {})
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : options.port,
    async close (graceMs, beforeDrain) {
      closing = true
      const stopped = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      for (const connection of connections) connection.goAway()
      beforeDrain?.()
      const cut = setTimeout(() => { for (const connection of connections) connection.destroy() }, graceMs)
      await stopped
      clearTimeout(cut)
    }
  }
}

interface Stream {
  id: number
  handler: GrpcHandler | null
  /** The request's message bytes so far. */
  body: Buffer[]
  bodyLength: number
  /** Received on this stream since its window was last topped up. */
  unacknowledged: number
  remoteEnded: boolean
  /** Response HEADERS sent. */
  headersSent: boolean
  /** The call is over for its handler: answered, cancelled or timed out. */
  done: boolean
  /** Counts toward MAX_CONCURRENT_STREAMS until its handler has answered or the connection ends. */
  active: boolean
  sendWindow: number
  /** Output held back by flow control: DATA payloads, then the trailers (a Buffer of HPACK), in order. */
  pending: Array<{ data: Buffer } | { trailers: Buffer }>
  deadline: NodeJS.Timeout | undefined
  onAbort: (() => void) | undefined
  call: GrpcCall | undefined
}

interface HeaderBlock { stream: number; endStream: boolean; fragments: Buffer[]; length: number }

class Connection {
  readonly #socket: Socket
  readonly #tls: boolean
  readonly #methods: Record<string, GrpcHandler>
  readonly #onClosed: () => void
  readonly #decoder = new HpackDecoder()
  readonly #streams = new Map<number, Stream>()
  #buffer: Buffer | null = null
  #prefaceSeen = false
  #settingsSeen = false
  #lastStreamId = 0
  #active = 0
  #goingAway = false
  #closed = false
  /** A header block in progress: its stream, flags, fragments. */
  #headerBlock: HeaderBlock | null = null
  #sendWindow = 65_535
  #peerInitialWindow = 65_535
  #peerMaxFrame = 16_384
  #unacknowledged = 0
  #out: Buffer[] = []
  #flushScheduled = false
  /** Streams with output held back by flow control, in the order they were blocked. */
  readonly #blocked = new Set<Stream>()
  readonly #prefaceTimer: NodeJS.Timeout

  constructor (socket: Socket, tls: boolean, methods: Record<string, GrpcHandler>, onClosed: () => void) {
    this.#socket = socket
    this.#tls = tls
    this.#methods = methods
    this.#onClosed = onClosed
    this.#prefaceTimer = setTimeout(() => { this.destroy() }, PREFACE_TIMEOUT_MS)
    socket.on('data', (chunk: Buffer) => { this.#read(chunk) })
    socket.on('drain', () => { socket.resume() })
    socket.on('error', () => { this.destroy() })
    socket.on('close', () => { this.#teardown() })
    socket.on('end', () => { this.destroy() })
  }

  /** Graceful close: no new streams; the socket ends once the streams in flight are over. */
  goAway (): void {
    if (this.#goingAway || this.#closed) return
    this.#goingAway = true
    this.#write(frame(FRAME.GOAWAY, 0, 0, Buffer.concat([uint32(this.#lastStreamId), uint32(ERROR.NO_ERROR)])))
    this.#endIfIdle()
  }

  destroy (): void {
    this.#socket.destroy()
    this.#teardown()
  }

  #teardown (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#prefaceTimer)
    for (const stream of this.#streams.values()) this.#abort(stream)
    this.#streams.clear()
    this.#onClosed()
  }

  #read (chunk: Buffer): void {
    let data = this.#buffer === null ? chunk : Buffer.concat([this.#buffer, chunk])
    this.#buffer = null
    if (!this.#prefaceSeen) {
      const seen = Math.min(data.length, PREFACE.length)
      if (data.compare(PREFACE, 0, seen, 0, seen) !== 0) {
        // Not HTTP/2 with prior knowledge: most likely an HTTP/1 request.
        this.#socket.end(HTTP1_ANSWER)
        this.#teardown()
        return
      }
      if (data.length < PREFACE.length) { this.#buffer = data; return }
      this.#prefaceSeen = true
      // Only now: an HTTP/1 client must get an HTTP/1 answer, not a SETTINGS frame.
      this.#write(OUR_SETTINGS, CONNECTION_WINDOW)
      data = data.subarray(PREFACE.length)
    }
    let at = 0
    try {
      while (!this.#closed && data.length - at >= 9) {
        const length = data.readUIntBE(at, 3)
        if (length > MAX_FRAME_SIZE) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'frame too large')
        if (data.length - at < 9 + length) break
        const type = data[at + 3] as number
        const flags = data[at + 4] as number
        const streamId = data.readUInt32BE(at + 5) & 0x7fffffff
        this.#frame(type, flags, streamId, data.subarray(at + 9, at + 9 + length))
        at += 9 + length
      }
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error
      this.#fail(error.code, error.message)
      return
    }
    if (at < data.length) this.#buffer = Buffer.from(data.subarray(at))
    if (this.#socket.writableLength > WRITE_HIGH_WATER) this.#socket.pause()
  }

  #frame (type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.#settingsSeen) {
      if (type !== FRAME.SETTINGS || (flags & FLAG.ACK) !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'the preface must be followed by SETTINGS')
      this.#settingsSeen = true
      clearTimeout(this.#prefaceTimer)
    }
    if (this.#headerBlock !== null && (type !== FRAME.CONTINUATION || streamId !== this.#headerBlock.stream)) {
      throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'a header block was interrupted')
    }
    switch (type) {
      case FRAME.DATA: this.#data(flags, streamId, payload); break
      case FRAME.HEADERS: this.#headers(flags, streamId, payload); break
      case FRAME.CONTINUATION: this.#continuation(flags, streamId, payload); break
      case FRAME.RST_STREAM: this.#reset(streamId, payload); break
      case FRAME.SETTINGS: this.#settings(flags, streamId, payload); break
      case FRAME.PING:
        if (streamId !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'PING on a stream')
        if (payload.length !== 8) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'PING of a wrong size')
        if ((flags & FLAG.ACK) === 0) this.#write(frame(FRAME.PING, FLAG.ACK, 0, payload))
        break
      case FRAME.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'GOAWAY on a stream')
        this.#goingAway = true
        this.#endIfIdle()
        break
      case FRAME.WINDOW_UPDATE: this.#windowUpdate(streamId, payload); break
      case FRAME.PRIORITY:
        if (streamId === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'PRIORITY on stream 0')
        if (payload.length !== 5) this.#resetStream(streamId, ERROR.FRAME_SIZE_ERROR)
        break
      case FRAME.PUSH_PROMISE: throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'a client cannot push')
      default: // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  #settings (flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'SETTINGS on a stream')
    if ((flags & FLAG.ACK) !== 0) {
      if (payload.length !== 0) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload')
      return
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'SETTINGS of a wrong size')
    for (let at = 0; at < payload.length; at += 6) {
      const id = payload.readUInt16BE(at)
      const value = payload.readUInt32BE(at + 2)
      if (id === SETTING.INITIAL_WINDOW_SIZE) {
        if (value > 0x7fffffff) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, 'window too large')
        const delta = value - this.#peerInitialWindow
        this.#peerInitialWindow = value
        for (const stream of this.#streams.values()) stream.sendWindow += delta
      } else if (id === SETTING.MAX_FRAME_SIZE) {
        if (value < 16_384 || value > 16_777_215) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'bad SETTINGS_MAX_FRAME_SIZE')
        this.#peerMaxFrame = value
      } else if (id === SETTING.ENABLE_PUSH && value > 1) {
        throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'bad SETTINGS_ENABLE_PUSH')
      }
      // HEADER_TABLE_SIZE: Keygate's answers use no table. The others concern what Keygate would send, which it does not.
    }
    this.#write(SETTINGS_ACK)
    this.#flushBlocked()
  }

  #windowUpdate (streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of a wrong size')
    const increment = payload.readUInt32BE(0) & 0x7fffffff
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0')
      this.#sendWindow += increment
      if (this.#sendWindow > 0x7fffffff) throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, 'window too large')
    } else {
      const stream = this.#streams.get(streamId)
      if (stream === undefined) return
      if (increment === 0 || stream.sendWindow + increment > 0x7fffffff) { this.#resetStream(streamId, increment === 0 ? ERROR.PROTOCOL_ERROR : ERROR.FLOW_CONTROL_ERROR); return }
      stream.sendWindow += increment
    }
    this.#flushBlocked()
  }

  #reset (streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'RST_STREAM on stream 0')
    if (payload.length !== 4) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'RST_STREAM of a wrong size')
    if (streamId > this.#lastStreamId) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'RST_STREAM on an idle stream')
    const stream = this.#streams.get(streamId)
    if (stream === undefined) return
    this.#abort(stream)
    this.#forget(stream)
  }

  #headers (flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'HEADERS on stream 0')
    let start = 0
    let end = payload.length
    if ((flags & FLAG.PADDED) !== 0) {
      if (payload.length < 1) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, 'HEADERS too short')
      start = 1
      end -= payload[0] as number
    }
    if ((flags & FLAG.PRIORITY) !== 0) start += 5
    if (end < start) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'HEADERS padding past the payload')
    const fragment = payload.subarray(start, end)
    this.#headerBlock = { stream: streamId, endStream: (flags & FLAG.END_STREAM) !== 0, fragments: [fragment], length: fragment.length }
    if ((flags & FLAG.END_HEADERS) !== 0) this.#headerBlockDone()
  }

  #continuation (flags: number, streamId: number, payload: Buffer): void {
    const block = this.#headerBlock
    if (block === null || block.stream !== streamId) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'CONTINUATION without HEADERS')
    block.fragments.push(payload)
    block.length += payload.length
    if (block.length > MAX_HEADER_BLOCK_BYTES) throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, 'header block too large')
    if ((flags & FLAG.END_HEADERS) !== 0) this.#headerBlockDone()
  }

  #headerBlockDone (): void {
    const block = this.#headerBlock as HeaderBlock
    this.#headerBlock = null
    let fields: HeaderField[]
    try {
      fields = this.#decoder.decode(block.fragments.length === 1 ? block.fragments[0] as Buffer : Buffer.concat(block.fragments))
    } catch (error) {
      if (error instanceof HpackError) throw new ConnectionError(ERROR.COMPRESSION_ERROR, error.message)
      throw error
    }
    const existing = this.#streams.get(block.stream)
    if (existing !== undefined) {
      // Trailers from the client: they must end its side.
      if (existing.remoteEnded || !block.endStream) { this.#abort(existing); this.#forget(existing); this.#resetStream(block.stream, ERROR.PROTOCOL_ERROR); return }
      this.#remoteEnd(existing)
      return
    }
    if (block.stream <= this.#lastStreamId || block.stream % 2 === 0) {
      if (block.stream % 2 === 0 || block.stream > this.#lastStreamId) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'a stream id the client cannot open')
      throw new ConnectionError(ERROR.STREAM_CLOSED, 'HEADERS on a closed stream')
    }
    this.#lastStreamId = block.stream
    // After GOAWAY, new streams are ignored (RFC 9113 §6.8).
    if (this.#goingAway) return
    if (this.#active >= MAX_CONCURRENT_STREAMS) { this.#resetStream(block.stream, ERROR.REFUSED_STREAM); return }
    this.#open(block.stream, fields, block.endStream)
  }

  #open (id: number, fields: HeaderField[], endStream: boolean): void {
    let method = ''
    let path = ''
    let contentType = ''
    let encoding = ''
    let timeout = ''
    let listSize = 0
    for (const [name, value] of fields) {
      listSize += name.length + value.length + 32
      switch (name) {
        case ':method': method = value; break
        case ':path': path = value; break
        case 'content-type': contentType = value; break
        case 'grpc-encoding': encoding = value; break
        case 'grpc-timeout': timeout = value; break
      }
    }
    const stream: Stream = {
      id,
      handler: null,
      body: [],
      bodyLength: 0,
      unacknowledged: 0,
      remoteEnded: endStream,
      headersSent: false,
      done: false,
      active: true,
      sendWindow: this.#peerInitialWindow,
      pending: [],
      deadline: undefined,
      onAbort: undefined,
      call: undefined
    }
    this.#streams.set(id, stream)
    this.#active++
    if (method !== 'POST') this.#httpRefusal(stream, '405', [['allow', 'POST']])
    else if (contentType !== 'application/grpc' && !contentType.startsWith('application/grpc+proto') && !contentType.startsWith('application/grpc;')) this.#httpRefusal(stream, '415', [])
    else if (listSize > MAX_HEADER_LIST_SIZE) this.#finish(stream, STATUS.RESOURCE_EXHAUSTED, 'request metadata too large')
    else if (encoding !== '' && encoding !== 'identity') this.#finish(stream, STATUS.UNIMPLEMENTED, `grpc-encoding ${encoding} is not supported`)
    else {
      const handler = this.#methods[path]
      if (handler === undefined) this.#finish(stream, STATUS.UNIMPLEMENTED, `unknown method ${path}`)
      else {
        stream.handler = handler
        const ms = timeoutMs(timeout)
        if (ms !== null) stream.deadline = setTimeout(() => { this.#expire(stream) }, ms)
      }
    }
    if (endStream) this.#remoteEnd(stream)
  }

  #data (flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'DATA on stream 0')
    this.#unacknowledged += payload.length
    if (this.#unacknowledged >= RECV_WINDOW / 2) {
      this.#write(frame(FRAME.WINDOW_UPDATE, 0, 0, uint32(this.#unacknowledged)))
      this.#unacknowledged = 0
    }
    const stream = this.#streams.get(streamId)
    if (stream === undefined || stream.remoteEnded) {
      if (streamId > this.#lastStreamId) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'DATA on an idle stream')
      if (stream === undefined) this.#resetStream(streamId, ERROR.STREAM_CLOSED)
      else { this.#abort(stream); this.#forget(stream); this.#resetStream(streamId, ERROR.STREAM_CLOSED) }
      return
    }
    let start = 0
    let end = payload.length
    if ((flags & FLAG.PADDED) !== 0) {
      if (payload.length < 1 || (payload[0] as number) >= payload.length) throw new ConnectionError(ERROR.PROTOCOL_ERROR, 'DATA padding past the payload')
      start = 1
      end -= payload[0] as number
    }
    if (stream.handler !== null && !stream.done) {
      stream.bodyLength += end - start
      if (stream.bodyLength > MAX_MESSAGE_BYTES + 5) this.#finish(stream, STATUS.RESOURCE_EXHAUSTED, `a message larger than ${MAX_MESSAGE_BYTES} bytes`)
      // The payload is a view of the read buffer: kept, it must be copied.
      else if (end > start) stream.body.push(Buffer.from(payload.subarray(start, end)))
    }
    if ((flags & FLAG.END_STREAM) !== 0) { this.#remoteEnd(stream); return }
    stream.unacknowledged += payload.length
    if (stream.unacknowledged >= RECV_WINDOW / 2) {
      this.#write(frame(FRAME.WINDOW_UPDATE, 0, streamId, uint32(stream.unacknowledged)))
      stream.unacknowledged = 0
    }
  }

  /** The client's side is complete: the message goes to its handler. */
  #remoteEnd (stream: Stream): void {
    stream.remoteEnded = true
    if (stream.done) { this.#forgetIfOver(stream); return }
    const handler = stream.handler as GrpcHandler
    const body = stream.body.length === 1 ? stream.body[0] as Buffer : Buffer.concat(stream.body)
    stream.body = []
    if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
      this.#finish(stream, STATUS.INTERNAL, 'a unary or server-streaming call needs exactly one message')
      return
    }
    if (body[0] !== 0) {
      this.#finish(stream, STATUS.UNIMPLEMENTED, 'compressed messages are not supported')
      return
    }
    const call = this.#call(stream)
    try {
      handler(body.subarray(5), call)
    } catch {
      if (!stream.done) this.#finish(stream, STATUS.INTERNAL, 'the handler failed')
    }
  }

  #call (stream: Stream): GrpcCall {
    const connection = this
    const socket = this.#socket
    const tls = this.#tls
    const call: GrpcCall = {
      get peer () { return { address: socket.remoteAddress ?? null, tls } },
      get done () { return stream.done },
      reply (message) {
        if (stream.done) return
        connection.#sendMessage(stream, message)
        connection.#finish(stream, STATUS.OK)
      },
      send (message) {
        if (!stream.done) connection.#sendMessage(stream, message)
      },
      end (code, details) {
        if (!stream.done) connection.#finish(stream, code, details)
      },
      onAbort (listener) { stream.onAbort = listener }
    }
    stream.call = call
    return call
  }

  #sendMessage (stream: Stream, message: Uint8Array): void {
    if (!stream.headersSent) {
      stream.headersSent = true
      this.#write(frame(FRAME.HEADERS, FLAG.END_HEADERS, stream.id, RESPONSE_HEADERS))
    }
    const data = Buffer.allocUnsafe(5 + message.length)
    data[0] = 0
    data.writeUInt32BE(message.length, 1)
    data.set(message, 5)
    if (stream.pending.length === 0 && data.length <= this.#sendWindow && data.length <= stream.sendWindow && data.length <= this.#peerMaxFrame) {
      this.#sendWindow -= data.length
      stream.sendWindow -= data.length
      this.#write(frame(FRAME.DATA, 0, stream.id, data))
    } else {
      stream.pending.push({ data })
      this.#blocked.add(stream)
      this.#flushBlocked()
    }
  }

  /** Ends the call: trailers (after any held-back data), or a trailers-only answer. */
  #finish (stream: Stream, code: number, details?: string, release = true): void {
    stream.done = true
    clearTimeout(stream.deadline)
    if (release) this.#release(stream)
    const fields: Array<[string, string]> = code === STATUS.OK && details === undefined ? [] : [['grpc-status', String(code)]]
    if (details !== undefined) fields.push(['grpc-message', percentEncode(details)])
    let trailers = fields.length === 0 ? OK_TRAILERS : encodeFields(fields)
    if (!stream.headersSent) {
      stream.headersSent = true
      trailers = Buffer.concat([RESPONSE_HEADERS, trailers])
    }
    if (stream.pending.length > 0) stream.pending.push({ trailers })
    else this.#sendTrailers(stream, trailers)
  }

  #sendTrailers (stream: Stream, trailers: Buffer): void {
    this.#write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, stream.id, trailers))
    // Answered before the client finished sending: it need not go on (RFC 9113 §8.1).
    if (!stream.remoteEnded) this.#resetStream(stream.id, ERROR.NO_ERROR)
    this.#forget(stream)
  }

  /** An answer that is not gRPC: an HTTP status alone, for a request that is no gRPC call. */
  #httpRefusal (stream: Stream, status: string, extra: Array<[string, string]>): void {
    stream.done = true
    stream.headersSent = true
    this.#release(stream)
    this.#write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, stream.id, encodeFields([[':status', status], ...extra])))
    if (!stream.remoteEnded) this.#resetStream(stream.id, ERROR.NO_ERROR)
    this.#forget(stream)
  }

  #expire (stream: Stream): void {
    if (stream.done) return
    this.#finish(stream, STATUS.DEADLINE_EXCEEDED, 'the deadline passed', false)
    this.#releaseWhenAnswered(stream)
    stream.onAbort?.()
  }

  /** The call is over without an answer: its handler is told, its answer will be dropped. */
  #abort (stream: Stream): void {
    clearTimeout(stream.deadline)
    if (!stream.done) {
      stream.done = true
      stream.onAbort?.()
    }
    // A cancelled call still counts until its handler answers (see MAX_CONCURRENT_STREAMS), unless the connection is gone.
    if (this.#closed || stream.handler === null || stream.call === undefined) this.#release(stream)
    else this.#releaseWhenAnswered(stream)
  }

  #releaseWhenAnswered (stream: Stream): void {
    const call = stream.call as GrpcCall & Record<string, unknown>
    const release = (): void => { this.#release(stream) }
    call.reply = release
    call.end = release
  }

  #release (stream: Stream): void {
    if (!stream.active) return
    stream.active = false
    this.#active--
    if (this.#goingAway) this.#endIfIdle()
  }

  #forget (stream: Stream): void {
    this.#streams.delete(stream.id)
    this.#blocked.delete(stream)
    this.#endIfIdle()
  }

  #forgetIfOver (stream: Stream): void {
    if (stream.pending.length === 0 && stream.headersSent) this.#forget(stream)
  }

  #flushBlocked (): void {
    for (const stream of this.#blocked) {
      while (stream.pending.length > 0) {
        const next = stream.pending[0] as { data: Buffer } | { trailers: Buffer }
        if ('trailers' in next) {
          stream.pending.shift()
          this.#sendTrailers(stream, next.trailers)
          break
        }
        const size = Math.min(next.data.length, this.#sendWindow, stream.sendWindow, this.#peerMaxFrame)
        if (size <= 0) return
        this.#sendWindow -= size
        stream.sendWindow -= size
        this.#write(frame(FRAME.DATA, 0, stream.id, next.data.subarray(0, size)))
        if (size === next.data.length) stream.pending.shift()
        else next.data = next.data.subarray(size)
      }
      this.#blocked.delete(stream)
    }
  }

  #resetStream (streamId: number, code: number): void {
    this.#write(frame(FRAME.RST_STREAM, 0, streamId, uint32(code)))
  }

  /** A connection error: GOAWAY with its code, then the socket ends. */
  #fail (code: number, message: string): void {
    this.#write(frame(FRAME.GOAWAY, 0, 0, Buffer.concat([uint32(this.#lastStreamId), uint32(code), Buffer.from(message)])))
    this.#flush()
    this.#socket.end()
    this.#teardown()
  }

  #endIfIdle (): void {
    if (this.#goingAway && !this.#closed && this.#streams.size === 0 && this.#active === 0) {
      this.#flush()
      this.#socket.end()
      this.#teardown()
    }
  }

  #write (...frames: Buffer[]): void {
    if (this.#closed) return
    this.#out.push(...frames)
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      // After the decisions the read started have answered, as far as they answer at once: one write for them all.
      setImmediate(() => { this.#flush() })
    }
  }

  #flush (): void {
    this.#flushScheduled = false
    if (this.#out.length === 0 || this.#socket.destroyed) { this.#out = []; return }
    const out = this.#out.length === 1 ? this.#out[0] as Buffer : Buffer.concat(this.#out)
    this.#out = []
    this.#socket.write(out)
  }
}

class ConnectionError extends Error {
  readonly code: number
  constructor (code: number, message: string) {
    super(message)
    this.code = code
  }
}

function frame (type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length)
  out.writeUIntBE(payload.length, 0, 3)
  out[3] = type
  out[4] = flags
  out.writeUInt32BE(streamId, 5)
  payload.copy(out, 9)
  return out
}

function uint32 (value: number): Buffer {
  const out = Buffer.allocUnsafe(4)
  out.writeUInt32BE(value, 0)
  return out
}

function settingsFrame (settings: Array<[number, number]>): Buffer {
  const payload = Buffer.alloc(6 * settings.length)
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i)
    payload.writeUInt32BE(value, 6 * i + 2)
  })
  return frame(FRAME.SETTINGS, 0, 0, payload)
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
