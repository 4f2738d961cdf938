import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { REQUEST_TIMEOUT_MS } from '../../src/server/app.js'
import { Store } from '../../src/store/index.js'
import { testDatabases } from '../helpers/databases.js'
import { testServer, type TestServer } from '../helpers/server.js'

/** The server's whole answer to a client that sends `partial` and then nothing, read until the server closes the connection. */
async function answerTo (port: number, partial: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk) => { answer += String(chunk) })
    socket.on('close', () => { resolve(answer) })
    socket.on('error', reject)
    socket.write(partial)
  })
}

async function listening (t: Test, options: { requestTimeoutMs?: number } = {}): Promise<TestServer & { port: number }> {
  const driver = testDatabases()[0]!
  const server = await testServer(t, new Store(await driver.open(t, { migrated: true })), options)
  await server.app.listen({ host: '127.0.0.1', port: 0 })
  return { ...server, port: (server.app.server.address() as { port: number }).port }
}

const TIMEOUT_ANSWER = /^HTTP\/1\.1 408 Request timeout\r\n[^]*\r\n\r\n\{"message":"Request timeout","code":"REQUEST_TIMEOUT"\}$/

t.test('the request timeout is 30 s by default, for the headers as for the whole request', async (t) => {
  const { app } = await listening(t)
  t.equal(REQUEST_TIMEOUT_MS, 30_000)
  t.equal(app.server.requestTimeout, REQUEST_TIMEOUT_MS)
  t.equal(app.server.headersTimeout, REQUEST_TIMEOUT_MS)
})

t.test('a request that has not arrived within the timeout is a 408 in the JSON shape, and the connection closes', async (t) => {
  const { app, port } = await listening(t, { requestTimeoutMs: 300 })
  t.equal(app.server.requestTimeout, 300)
  t.equal(app.server.headersTimeout, 300)
  const body = JSON.stringify({ method: 'GET', path: '/api/v1/bot/list', headers: {} })
  const head = `POST /v1/authorize HTTP/1.1\r\nHost: keygate\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
  t.match(await answerTo(port, head + body.slice(0, 10)), TIMEOUT_ANSWER, 'the decision API: half a body')
  // Forward-auth checks are dispatched before Fastify, by the node server the timeout belongs to.
  t.match(await answerTo(port, 'GET /v1/forward-auth HTTP/1.1\r\nHost: keygate\r\nX-Original-URI: /api/v1/'), TIMEOUT_ANSWER,
    'forward-auth: headers never finished')
})
