// The baseline: a bare Fastify "hello world" (no logger, no plugins), one process
// per worker like the Keygate server. Prints its URL on stdout when listening.
import cluster from 'node:cluster'
import { availableParallelism } from 'node:os'
import Fastify from 'fastify'

const workers = Number(process.env.HELLO_WORKERS ?? 1)
const port = Number(process.env.HELLO_PORT ?? 0)

if (workers > 1 && cluster.isPrimary) {
  let ready = 0
  for (let i = 0; i < Math.min(workers, availableParallelism() * 4); i++) {
    cluster.fork().on('message', (m) => { if (m?.url && ++ready === workers) process.stdout.write(`${m.url}\n`) })
  }
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill('SIGTERM'); process.exit(0) })
} else {
  const app = Fastify()
  app.all('/v1/forward-auth', async () => ({ hello: 'world' }))
  app.get('/', async () => ({ hello: 'world' }))
  const url = await app.listen({ host: '127.0.0.1', port })
  if (cluster.isWorker) process.send({ url })
  else process.stdout.write(`${url}\n`)
  process.on('SIGTERM', () => { app.close().then(() => process.exit(0)) })
}
