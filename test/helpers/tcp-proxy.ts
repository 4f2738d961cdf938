/**
 * A TCP proxy on 127.0.0.1 in front of a server (PostgreSQL), to cut the
 * network under a running instance:
 *
 *   const proxy = await tcpProxy(t, 5432)
 *   proxy.set('silent')   // connections open, nothing comes back (a partition)
 *   proxy.set('refuse')   // every connection reset, new ones too (server gone)
 *   proxy.set('up')       // new connections go through again
 */
import { connect, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

export type ProxyMode = 'up' | 'silent' | 'refuse'

export interface TcpProxy {
  port: number
  /** The URL with its host replaced by the proxy's. */
  url(target: string): string
  set(mode: ProxyMode): void
}

export async function tcpProxy (t: Test, targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let mode: ProxyMode = 'up'
  const pairs = new Set<{ client: Socket; upstream: Socket | null; silent: boolean }>()
  const server = createServer((client) => {
    client.on('error', () => {})
    if (mode === 'refuse') {
      client.resetAndDestroy()
      return
    }
    const pair = { client, upstream: null as Socket | null, silent: mode === 'silent' }
    pairs.add(pair)
    client.on('close', () => { pair.upstream?.destroy(); pairs.delete(pair) })
    if (pair.silent) return // swallow everything: the server never answers
    const upstream = connect(targetPort, targetHost)
    pair.upstream = upstream
    upstream.on('error', () => { client.destroy() })
    upstream.on('close', () => { client.destroy() })
    client.on('data', (chunk) => { if (!pair.silent) upstream.write(chunk) })
    upstream.on('data', (chunk) => { if (!pair.silent) client.write(chunk) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  t.teardown(async () => {
    for (const { client, upstream } of pairs) { client.destroy(); upstream?.destroy() }
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  })
  return {
    port,
    url (target) {
      const url = new URL(target)
      url.host = `127.0.0.1:${port}`
      return url.href
    },
    set (next) {
      mode = next
      for (const pair of pairs) {
        if (next === 'silent') pair.silent = true
        if (next === 'refuse') { pair.client.resetAndDestroy(); pair.upstream?.destroy() }
      }
    }
  }
}
