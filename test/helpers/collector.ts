/**
 * A decision-log collector speaking OPA's decision-log service protocol, on a
 * real port: it decompresses every POST, checks its headers, and keeps the
 * events it accepted. `answer` decides each POST's fate; `stop()` closes the
 * port (connection refused) and `start()` opens the same one again.
 *
 *   const collector = await startCollector(t)
 *   collector.answer = () => 503       // fail for a while
 *   await collector.stop()             // then refuse connections
 *   await collector.start()            // then recover
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'
import type { Test } from 'tap'

export interface CollectorPost {
  headers: IncomingHttpHeaders
  url: string
  events: Array<Record<string, any>>
  status: number
}

export interface Collector {
  /** http://127.0.0.1:PORT/logs */
  url: string
  port: number
  /** Every POST received, answered or not. */
  posts: CollectorPost[]
  /** The events of the POSTs answered 2xx, in order. */
  accepted: Array<Record<string, any>>
  /** What to answer a POST: a status (with headers), or 'hang' to never answer. Default 204. */
  answer: (post: CollectorPost) => number | { status: number; headers?: Record<string, string> } | 'hang'
  /** Protocol mistakes seen (wrong method, headers or body): the test checks it stays empty. */
  problems: string[]
  stop(): Promise<void>
  start(): Promise<void>
  /** Resolves once `accepted` holds at least `count` events (or throws after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<void>
}

export async function startCollector (t: Test, path = '/logs'): Promise<Collector> {
  let server: Server | null = null
  const collector: Collector = {
    url: '',
    port: 0,
    posts: [],
    accepted: [],
    answer: () => 204,
    problems: [],
    async stop () {
      const closing = server
      server = null
      if (closing === null) return
      closing.closeAllConnections()
      await new Promise((resolve) => closing.close(resolve))
    },
    async start () {
      server = listen()
      await new Promise<void>((resolve, reject) => {
        (server as Server).once('error', reject).listen(collector.port, '127.0.0.1', () => { resolve() })
      })
      collector.port = ((server as Server).address() as AddressInfo).port
      collector.url = `http://127.0.0.1:${collector.port}${path}`
    },
    async waitFor (count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      while (collector.accepted.length < count) {
        if (Date.now() > deadline) throw new Error(`the collector has ${collector.accepted.length} events, expected ${count}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
  }

  function listen (): Server {
    return createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        let events: Array<Record<string, any>> = []
        if (req.method !== 'POST' || req.url !== path) collector.problems.push(`${req.method} ${req.url}`)
        if (req.headers['content-encoding'] !== 'gzip') collector.problems.push(`content-encoding ${req.headers['content-encoding']}`)
        if (req.headers['content-type'] !== 'application/json') collector.problems.push(`content-type ${req.headers['content-type']}`)
        try {
          events = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8'))
          if (!Array.isArray(events)) throw new Error('not an array')
        } catch (error) {
          collector.problems.push(`body: ${(error as Error).message}`)
        }
        const post: CollectorPost = { headers: req.headers, url: req.url ?? '', events, status: 0 }
        collector.posts.push(post)
        const answer = collector.answer(post)
        if (answer === 'hang') return
        const { status, headers = {} } = typeof answer === 'number' ? { status: answer } : answer
        post.status = status
        if (status >= 200 && status < 300) collector.accepted.push(...events)
        res.writeHead(status, headers).end()
      })
    })
  }

  await collector.start()
  t.teardown(async () => { await collector.stop() })
  return collector
}

/** Event ids seen more than once (a duplicate), and how many distinct ones. */
export function tally (events: ReadonlyArray<Record<string, any>>): { distinct: Set<string>; duplicates: string[] } {
  const distinct = new Set<string>()
  const duplicates: string[] = []
  for (const event of events) {
    const key = `${event.decision_id as string}/${event.id as string}`
    if (distinct.has(key)) duplicates.push(key)
    distinct.add(key)
  }
  return { distinct, duplicates }
}
