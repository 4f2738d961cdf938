/**
 * Keygate's gRPC transport against real clients: @grpc/grpc-js for gRPC,
 * node:http2 for what a gRPC client would not send, raw sockets and
 * node:http for what is not HTTP/2 at all. HTTP/2 itself is node:http2's
 * (nghttp2): these tests are of the gRPC layer and its settings.
 */
import { request as http1Request } from 'node:http'
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2'
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js'
import t, { type Test } from 'tap'
import { listenGrpcTransport, type GrpcCall, type GrpcTransport } from '../../src/server/grpc-transport.js'

interface Setup {
  transport: GrpcTransport
  address: string
  /** The calls to /test.T/Hold so far, each answered when the test says. */
  held: Array<{ call: GrpcCall; aborted: Promise<void> }>
  heldArrived(): Promise<{ call: GrpcCall; aborted: Promise<void> }>
}

async function setup (t: Test): Promise<Setup> {
  const held: Setup['held'] = []
  let arrived: ((value: Setup['held'][number]) => void) | null = null
  const transport = await listenGrpcTransport({
    host: '127.0.0.1',
    port: 0,
    methods: {
      '/test.T/Echo': (message, call) => { call.reply(message) },
      '/test.T/Fail': (_message, call) => { call.end(status.PERMISSION_DENIED, 'no, café 100%') },
      '/test.T/Three': (message, call) => { for (let i = 0; i < 3; i++) call.send(message); call.end(status.OK) },
      '/test.T/Hold': (_message, call) => {
        const entry = { call, aborted: new Promise<void>((resolve) => { call.onAbort(() => { call.end(status.CANCELLED); resolve() }) }) }
        held.push(entry)
        arrived?.(entry)
      }
    }
  })
  t.teardown(async () => { await transport.close(100) })
  return {
    transport,
    address: `127.0.0.1:${transport.port}`,
    held,
    heldArrived: async () => await new Promise((resolve) => { arrived = resolve })
  }
}

function grpcClient (t: Test, address: string): Client {
  const client = new Client(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 })
  t.teardown(() => { client.close() })
  return client
}

const identity = (b: Buffer): Buffer => b
async function unary (client: Client, path: string, message: Buffer, options: { deadline?: number; metadata?: Metadata } = {}): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const callOptions = options.deadline === undefined ? {} : { deadline: Date.now() + options.deadline }
    client.makeUnaryRequest(path, identity, identity, message, options.metadata ?? new Metadata(), callOptions, (error: ServiceError | null, value?: Buffer) => {
      error === null ? resolve(value as Buffer) : reject(error)
    })
  })
}

/** A raw HTTP/2 request: the response headers, body and trailers. */
async function h2Request (session: ClientHttp2Session, headers: Record<string, string>, body: Buffer): Promise<{ headers: Record<string, unknown>; body: Buffer; trailers: Record<string, unknown> }> {
  return await new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: false })
    let responseHeaders: Record<string, unknown> = {}
    let trailers: Record<string, unknown> = {}
    const chunks: Buffer[] = []
    stream.on('response', (h) => { responseHeaders = h })
    stream.on('trailers', (h) => { trailers = h })
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    stream.on('end', () => { resolve({ headers: responseHeaders, body: Buffer.concat(chunks), trailers }) })
    stream.on('error', reject)
    stream.end(body)
  })
}

function framed (message: Buffer, flag = 0): Buffer {
  const prefix = Buffer.alloc(5)
  prefix[0] = flag
  prefix.writeUInt32BE(message.length, 1)
  return Buffer.concat([prefix, message])
}

const GRPC = { ':method': 'POST', ':path': '/test.T/Echo', 'content-type': 'application/grpc', te: 'trailers' }

t.test('unary and server-streaming calls from grpc-js', async (t) => {
  const { address } = await setup(t)
  const client = grpcClient(t, address)
  t.same(await unary(client, '/test.T/Echo', Buffer.from('hello')), Buffer.from('hello'))
  t.same(await unary(client, '/test.T/Echo', Buffer.alloc(0)), Buffer.alloc(0), 'an empty message')
  const large = Buffer.alloc(300_000, 7)
  t.same(await unary(client, '/test.T/Echo', large), large, 'a message larger than every initial window, both ways')
  const many = await Promise.all(Array.from({ length: 300 }, async (_, i) => await unary(client, '/test.T/Echo', Buffer.from(String(i)))))
  t.same(many.map(String), Array.from({ length: 300 }, (_, i) => String(i)), '300 calls at once on one connection, each its own answer')
  const metadata = new Metadata()
  for (let i = 0; i < 50; i++) metadata.set(`x-meta-${i}`, `value ${i} `.repeat(5))
  for (let i = 0; i < 3; i++) t.same(await unary(client, '/test.T/Echo', Buffer.from('m'), { metadata }), Buffer.from('m'), `metadata that fills the HPACK table, call ${i + 1}`)
  await t.rejects(unary(client, '/test.T/Fail', Buffer.alloc(0)), { code: status.PERMISSION_DENIED, details: 'no, café 100%' }, 'a status and a message, percent-encoded on the wire')
  await t.rejects(unary(client, '/test.T/Nothing', Buffer.alloc(0)), { code: status.UNIMPLEMENTED }, 'an unknown method')
  const messages: Buffer[] = []
  await new Promise<void>((resolve, reject) => {
    const stream = client.makeServerStreamRequest('/test.T/Three', identity, identity, Buffer.from('s'))
    stream.on('data', (m: Buffer) => messages.push(m))
    stream.on('status', (s: { code: number }) => { s.code === status.OK ? resolve() : reject(new Error(String(s.code))) })
  })
  t.same(messages.map(String), ['s', 's', 's'], 'a server stream')
})

t.test('deadlines and cancellation: the handler is told, the call ends', async (t) => {
  const s = await setup(t)
  const client = grpcClient(t, s.address)
  const arrived = s.heldArrived()
  const cancelled = client.makeUnaryRequest('/test.T/Hold', identity, identity, Buffer.from('x'), () => {})
  const first = await arrived
  cancelled.cancel()
  await first.aborted
  t.ok(first.call.done, 'a cancelled call is done')

  // No client-side deadline: the server's own, from grpc-timeout.
  const session = http2Connect(`http://${s.address}`)
  t.teardown(() => { session.close() })
  const late = s.heldArrived()
  const answer = h2Request(session, { ...GRPC, ':path': '/test.T/Hold', 'grpc-timeout': '50m' }, framed(Buffer.from('x')))
  await (await late).aborted
  const { trailers } = await answer
  t.equal(trailers['grpc-status'] ?? (await answer).headers['grpc-status'], String(status.DEADLINE_EXCEEDED), 'grpc-timeout: DEADLINE_EXCEEDED')
})

t.test('not a gRPC call: an answer that says why', async (t) => {
  const s = await setup(t)
  const http1 = await new Promise<Error | number>((resolve) => {
    const req = http1Request({ host: '127.0.0.1', port: s.transport.port, method: 'POST', path: '/test.T/Echo', headers: { 'content-type': 'application/grpc' } }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', resolve)
    req.end()
  })
  t.type(http1, Error, 'HTTP/1.1 over plain TCP: no answer, the connection is refused by a GOAWAY')
  const session = http2Connect(`http://${s.address}`)
  t.teardown(() => { session.close() })
  const cases: Array<[string, Record<string, string>, Buffer, Record<string, string>]> = [
    ['a content-type that is not gRPC', { ...GRPC, 'content-type': 'application/json' }, Buffer.from('{}'), { ':status': '415' }],
    ['GET', { ...GRPC, ':method': 'GET' }, Buffer.alloc(0), { ':status': '405' }],
    ['a compressed message', { ...GRPC, 'grpc-encoding': 'gzip' }, framed(Buffer.from('x'), 1), { 'grpc-status': String(status.UNIMPLEMENTED) }],
    ['a compressed flag without grpc-encoding', GRPC, framed(Buffer.from('x'), 1), { 'grpc-status': String(status.UNIMPLEMENTED) }],
    ['no message', GRPC, Buffer.alloc(0), { 'grpc-status': String(status.INTERNAL) }],
    ['a length prefix longer than the body', GRPC, Buffer.from([0, 0, 0, 0, 9, 1]), { 'grpc-status': String(status.INTERNAL) }],
    ['two messages for a unary call', GRPC, Buffer.concat([framed(Buffer.from('a')), framed(Buffer.from('b'))]), { 'grpc-status': String(status.INTERNAL) }]
  ]
  for (const [name, headers, body, expected] of cases) {
    const answer = await h2Request(session, headers, body)
    t.match({ ...answer.headers, ...answer.trailers }, expected, name)
    t.equal(answer.body.length, 0, `${name}: no message`)
  }
  t.same((await h2Request(session, GRPC, framed(Buffer.from('still fine')))).body, framed(Buffer.from('still fine')), 'the connection serves on')
})

t.test('flow control: an answer larger than the client\'s window waits for its WINDOW_UPDATEs', async (t) => {
  const s = await setup(t)
  const session = http2Connect(`http://${s.address}`, { settings: { initialWindowSize: 16 } })
  t.teardown(() => { session.close() })
  const message = Buffer.alloc(50_000, 3)
  const answer = await h2Request(session, GRPC, framed(message))
  t.same(answer.body, framed(message))
  t.equal(answer.trailers['grpc-status'], '0')
})

t.test('limits: a message over 4 MiB is RESOURCE_EXHAUSTED; the settings bound a connection', async (t) => {
  const s = await setup(t)
  const session = http2Connect(`http://${s.address}`)
  t.teardown(() => { session.close() })
  const settings = await new Promise<Record<string, unknown>>((resolve) => { session.once('remoteSettings', resolve) })
  t.match(settings, { maxConcurrentStreams: 1000, maxHeaderListSize: 16_384 }, 'calls at once and metadata size are bounded')
  const answer = await h2Request(session, GRPC, framed(Buffer.alloc(4 * 1024 * 1024 + 1)))
  t.match({ ...answer.headers, ...answer.trailers }, { 'grpc-status': String(status.RESOURCE_EXHAUSTED) })
  t.equal(answer.body.length, 0, 'no message')
  const limit = framed(Buffer.alloc(4 * 1024 * 1024, 1))
  t.equal((await h2Request(session, GRPC, limit)).body.length, limit.length, 'a message of 4 MiB is answered')
})

t.test('close: GOAWAY, the calls in flight finish, long ones are cut after the grace period', async (t) => {
  const s = await setup(t)
  const client = grpcClient(t, s.address)
  t.same(await unary(client, '/test.T/Echo', Buffer.from('before')), Buffer.from('before'))
  const arrived = s.heldArrived()
  const inFlight = unary(client, '/test.T/Hold', Buffer.from('x'))
  const held = await arrived
  const closed = s.transport.close(10_000)
  held.call.reply(Buffer.from('answered during the close'))
  t.same(await inFlight, Buffer.from('answered during the close'), 'a call in flight is answered')
  await closed
  await t.rejects(unary(client, '/test.T/Echo', Buffer.from('after'), { deadline: 2000 }), { code: status.UNAVAILABLE }, 'no new calls')

  const again = await setup(t)
  const stuck = unary(grpcClient(t, again.address), '/test.T/Hold', Buffer.from('x'))
  await again.heldArrived()
  const cut = t.rejects(stuck, { code: status.UNAVAILABLE }, 'a call still running after the grace period is cut')
  await again.transport.close(50)
  await cut
})
