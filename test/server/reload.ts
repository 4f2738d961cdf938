import t from 'tap'
import { loadConfig, sessionSettingsOf } from '../../src/config/index.js'
import { start } from '../../src/server/serve.js'
import { allowAllBundle, builtBundle, bundleServer, withRevision } from '../helpers/bundles.js'
import { until } from '../helpers/until.js'

const KEY = /key: {5}(sk-\w+)/

t.test('keygate serve with KEYGATE_POLICY_BUNDLE on a bundle server: reloads under HTTP load, counted in /metrics and /readyz', async (t) => {
  const good = builtBundle()
  // Refuses (401) every request without it: the server could not start, or reload, unless it sends the token.
  const bundles = await bundleServer(t, good, { token: 'bundle-server-token' })
  const config = loadConfig({
    KEYGATE_PORT: '0',
    KEYGATE_DATA_DIR: 'memory://',
    KEYGATE_LOG_LEVEL: 'silent',
    KEYGATE_POLICY_BUNDLE: bundles.url,
    KEYGATE_POLICY_BUNDLE_TOKEN: 'bundle-server-token',
    KEYGATE_POLICY_POLL_SECONDS: '0.05'
  })
  let stdout = ''
  const server = await start({ ...config, sessions: await sessionSettingsOf(config) }, { stdout: { write: (chunk: string) => { stdout += chunk } } })
  t.teardown(async () => { await server.close() })
  const token = KEY.exec(stdout)?.[1] as string
  const ready = async (): Promise<{ policyRevision: string; policy: { revision: string; reloads: number; failures: number } }> =>
    await (await fetch(`${server.url}/readyz`)).json() as never
  const metrics = async (): Promise<string> => await (await fetch(`${server.url}/metrics`)).text()
  const first = (await ready()).policyRevision
  t.not(first, '')

  const statuses = new Map<number, number>()
  let stopped = false
  const client = async (): Promise<void> => {
    while (!stopped) {
      const res = await fetch(`${server.url}/v1/forward-auth`, {
        headers: { authorization: `Bearer ${token}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/v1/bot/list' }
      })
      await res.arrayBuffer()
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    }
  }
  const clients = Array.from({ length: 4 }, client)

  let lastMetrics = ''
  let lastRevision = ''
  bundles.serve(Buffer.from('broken'))
  await until(() => { void metrics().then((m) => { lastMetrics = m }); return /keygate_policy_reloads_total\{result="failure"\} [1-9]/.test(lastMetrics) }, 10_000)
  t.match(await ready(), { policyRevision: first, policy: { revision: first, reloads: 0, failures: 1 } }, 'revision unchanged, failure counted')
  bundles.serve(allowAllBundle(t))
  await until(() => { void metrics().then((m) => { lastMetrics = m }); return /keygate_policy_reloads_total\{result="failure"\} 2/.test(lastMetrics) }, 10_000)

  bundles.serve(await withRevision(good, 'rev-http-2'))
  await until(() => { void ready().then((r) => { lastRevision = r.policyRevision }); return lastRevision === 'rev-http-2' }, 10_000)
  await new Promise((resolve) => setTimeout(resolve, 200))
  stopped = true
  await Promise.all(clients)

  t.same([...statuses.keys()], [200], `zero failed requests (${statuses.get(200) ?? 0} answered 200)`)
  t.ok((statuses.get(200) ?? 0) > 20)
  const text = await metrics()
  t.match(text, /^keygate_policy_revision_info\{revision="rev-http-2"\} 1$/m)
  t.notMatch(text, new RegExp(`keygate_policy_revision_info\\{revision="${first}"\\}`), 'only the revision deciding now')
  t.match(text, /^keygate_policy_reloads_total\{result="success"\} 1$/m)
  t.match(text, /^keygate_policy_reloads_total\{result="failure"\} 2$/m)
  t.match(text, /^keygate_policy_evaluation_duration_seconds_count [1-9]/m)
  t.match(await ready(), { policy: { revision: 'rev-http-2', reloads: 1, failures: 2 } })
})
