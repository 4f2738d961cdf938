import { chmodSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { maskText } from '../audit/mask.js'
import { isKeygateErrorCode, KeygateError, type KeygateErrorCode } from '../errors.js'
import { OperationError, type OperationContext, type Operations } from './operations.js'

/**
 * The local admin socket of a server on the embedded store: only one process
 * may open the store's folder, so while `keygate serve` holds it the CLI sends
 * its operations here and the server runs them on its own store. Whoever may
 * open the socket file (mode 0600: the server's user, and root) is the
 * operator, as whoever may read the store's folder could read the data
 * anyway; nothing else authenticates, and nothing listens on the network.
 *
 * Protocol: one JSON request line `{"operation", "params"}`, one JSON answer
 * line `{"result"}` or `{"error": {"code", "message"}}`, then the server ends
 * the connection.
 */

/** The socket of the embedded store in `dataDir` (an absolute path), beside its lock file. */
export function adminSocketPath (dataDir: string): string {
  return `${dataDir}.sock`
}

/** Longest Unix socket path on Linux and macOS, less the terminating NUL. */
const MAX_SOCKET_PATH = 103
const MAX_REQUEST_BYTES = 1 << 20

export interface AdminSocket {
  path: string
  close(): Promise<void>
}

/** Serves `operations` on `path`. Call only while holding the store's lock: a file left there by a stopped server is replaced. */
export async function listenAdminSocket (path: string, operations: Operations, context: OperationContext): Promise<AdminSocket | null> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return null
  rmSync(path, { force: true })
  const server = createServer((socket) => { answer(socket, operations, context) })
  // The socket is created with the process's umask: never, even for an instant, open to others.
  const umask = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => { server.off('error', reject); resolve() })
    })
  } finally {
    process.umask(umask)
  }
  chmodSync(path, 0o600)
  return { path, close: async () => { await closeServer(server, path) } }
}

function answer (socket: Socket, operations: Operations, context: OperationContext): void {
  let received = ''
  socket.setEncoding('utf8')
  socket.on('error', () => { socket.destroy() })
  socket.on('data', (chunk: string) => {
    received += chunk
    if (received.length > MAX_REQUEST_BYTES) { socket.destroy(); return }
    const end = received.indexOf('\n')
    if (end < 0) return
    socket.removeAllListeners('data')
    void run(received.slice(0, end), operations, context).then((reply) => { socket.end(JSON.stringify(reply) + '\n') })
  })
}

async function run (line: string, operations: Operations, context: OperationContext): Promise<unknown> {
  try {
    const request = JSON.parse(line) as { operation?: unknown; params?: unknown }
    const operation = typeof request.operation === 'string' && Object.hasOwn(operations, request.operation)
      ? operations[request.operation]
      : undefined
    if (operation === undefined || typeof request.params !== 'object' || request.params === null) {
      throw new OperationError('the admin socket got a request it does not know (is the CLI of another Keygate version?)', 'ADMIN_REQUEST_UNKNOWN')
    }
    return { result: await operation(context, request.params as Record<string, unknown>) }
  } catch (error) {
    const code: KeygateErrorCode = error instanceof KeygateError ? error.code : 'OPERATION_FAILED'
    return { error: { code, message: maskText(error instanceof Error ? error.message : String(error)) } }
  }
}

async function closeServer (server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  rmSync(path, { force: true })
}

/**
 * Runs one operation through the socket at `path`. Null when no server
 * listens there (no file, or one left by a server that stopped).
 */
export async function callAdminSocket (path: string, operation: string, params: Record<string, unknown>): Promise<{ result: unknown } | null> {
  const socket = await connect(path)
  if (socket === null) return null
  const reply = await new Promise<string>((resolve, reject) => {
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { received += chunk })
    socket.on('end', () => { resolve(received) })
    socket.on('error', reject)
    socket.write(JSON.stringify({ operation, params }) + '\n')
  })
  const answer = JSON.parse(reply) as { result?: unknown; error?: { code: string; message: string } }
  if (answer.error !== undefined) throw new OperationError(answer.error.message, isKeygateErrorCode(answer.error.code) ? answer.error.code : 'OPERATION_FAILED')
  return { result: answer.result ?? null }
}

async function connect (path: string): Promise<Socket | null> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection(path)
    socket.once('connect', () => { socket.removeAllListeners('error'); resolve(socket) })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(null)
      else reject(new OperationError(`cannot reach the running server through ${path}: ${error.code ?? error.message}`))
    })
  })
}
