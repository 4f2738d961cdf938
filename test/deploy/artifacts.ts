/**
 * The deployment artifacts (Dockerfile, compose, Kubernetes, systemd) as far
 * as this machine can check them: every YAML parses, every KEYGATE_* variable
 * they set is one the configuration reads, and the environment each sets up
 * is one `keygate serve` accepts. `systemd-analyze verify` and `docker build`
 * run only where the tool (and, for docker, a daemon) is there.
 */
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { configurationProblems, knownVariables } from '../helpers/configuration.js'

const run = promisify(execFile)
const root = new URL('../../', import.meta.url)
const read = async (path: string): Promise<string> => await readFile(new URL(path, root), 'utf8')

/** A valid stand-in for the placeholders the artifacts ship with (never a real secret). */
function filled (env: Record<string, string>): Record<string, string> {
  const out = { ...env }
  if (out.KEYGATE_SIGNING_SECRET !== undefined) out.KEYGATE_SIGNING_SECRET = Buffer.alloc(32, 7).toString('base64')
  return out
}

interface K8sObject { kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string>; stringData?: Record<string, string> }

async function kubernetesObjects (): Promise<K8sObject[]> {
  const objects: K8sObject[] = []
  for (const file of (await readdir(new URL('deploy/kubernetes/', root))).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(await read(`deploy/kubernetes/${file}`))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? ''}`)
      objects.push(doc.toJS() as K8sObject)
    }
  }
  return objects
}

/** The `ENV` of the Dockerfile's last stage: the base of every container's environment. */
function dockerEnv (dockerfile: string): Record<string, string> {
  const last = dockerfile.split(/^FROM /m).at(-1) ?? ''
  const env: Record<string, string> = {}
  for (const [, body] of last.replace(/\\\n/g, ' ').matchAll(/^ENV (.+)$/gm)) {
    for (const [, name, value] of (body ?? '').matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[name as string] = value as string
  }
  return env
}

/** Name=value lines of an environment file or of systemd's `Environment=`. */
function envLines (text: string, prefix = ''): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [, name, value] of text.matchAll(new RegExp(`^${prefix}([A-Z_][A-Z0-9_]*)=(.*)$`, 'gm'))) env[name as string] = value as string
  return env
}

function keygateNames (env: Record<string, unknown>): string[] {
  return Object.keys(env).filter((name) => name.startsWith('KEYGATE_'))
}

t.test('every YAML file under deploy/ parses', async (t) => {
  const files = ['deploy/compose/compose.yaml', ...(await readdir(new URL('deploy/kubernetes/', root))).map((f) => `deploy/kubernetes/${f}`)]
  for (const file of files.filter((f) => f.endsWith('.yaml'))) {
    const docs = parseAllDocuments(await read(file))
    t.ok(docs.length > 0 && docs.every((doc) => doc.errors.length === 0), file)
  }
})

t.test('the Dockerfile: multi-stage, OPA built in a build stage, non-root, a HEALTHCHECK', async (t) => {
  const dockerfile = await read('Dockerfile')
  const stages = dockerfile.match(/^FROM /gm) ?? []
  t.ok(stages.length >= 3, 'opa, build and runtime stages')
  t.match(dockerfile, /RUN bash scripts\/install-opa\.sh/, 'the pinned OPA CLI, from scripts/install-opa.sh')
  t.match(dockerfile, /RUN npm run build/)
  const runtime = dockerfile.split(/^FROM /m).at(-1) ?? ''
  t.match(runtime, /^USER node$/m, 'runs as the image\'s unprivileged user')
  t.notMatch(runtime, /^USER root/m)
  t.match(runtime, /^HEALTHCHECK .*\n?.*\/healthz/m)
  const known = await knownVariables()
  for (const name of keygateNames(dockerEnv(dockerfile))) t.ok(known.has(name), `Dockerfile ENV ${name} is a known variable`)
})

t.test('compose: PostgreSQL, a migration step, known variables that serve accepts', async (t) => {
  const compose = parseAllDocuments(await read('deploy/compose/compose.yaml'))[0]?.toJS({ maxAliasCount: 10 }) as { services: Record<string, any> }
  t.match(compose.services.postgres.image, /^postgres:/)
  t.same(compose.services.migrate.command, ['migrate'])
  t.equal(compose.services.keygate.depends_on.migrate.condition, 'service_completed_successfully')
  const known = await knownVariables()
  const base = dockerEnv(await read('Dockerfile'))
  for (const service of ['migrate', 'keygate']) {
    const env: Record<string, string> = {}
    for (const [name, value] of Object.entries(compose.services[service].environment as Record<string, string>)) {
      // ${NAME:?…} and ${NAME:-default} are the operator's to fill in.
      env[name] = String(value).replace(/\$\{POSTGRES_PASSWORD:-([^}]*)\}/g, '$1').replace(/\$\{[^}]*\}/g, 'x')
    }
    for (const name of keygateNames(env)) t.ok(known.has(name), `${service}: ${name} is a known variable`)
    t.same(await configurationProblems(filled({ ...base, ...env })), [], `${service}: keygate serve accepts this environment`)
  }
})

t.test('Kubernetes: probes, Secret, PodDisruptionBudget, HPA, migration Job', async (t) => {
  const objects = await kubernetesObjects()
  const one = (kind: string): K8sObject => {
    const found = objects.filter((o) => o.kind === kind)
    t.equal(found.length, 1, `one ${kind}`)
    return found[0] as K8sObject
  }
  const deployment = one('Deployment')
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]
  t.equal(container.readinessProbe.httpGet.path, '/readyz')
  t.equal(container.livenessProbe.httpGet.path, '/healthz')
  t.equal(pod.securityContext.runAsNonRoot, true)
  const secret = one('Secret')
  const pdb = one('PodDisruptionBudget')
  t.same(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels, 'the PDB covers the Deployment\'s pods')
  const hpa = one('HorizontalPodAutoscaler')
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name })
  t.ok(hpa.spec.minReplicas >= 2 && hpa.spec.minReplicas > pdb.spec.minAvailable, 'a drain never waits on the only replica')
  const job = one('Job')
  t.same(job.spec.template.spec.containers[0].args, ['migrate'])
  const service = one('Service')
  t.same(service.spec.selector, deployment.spec.selector.matchLabels)
  const configMap = one('ConfigMap')

  const known = await knownVariables()
  const base = dockerEnv(await read('Dockerfile'))
  for (const [name, spec] of [['server', pod], ['migration job', job.spec.template.spec]] as const) {
    const env: Record<string, string> = {}
    for (const c of spec.containers) {
      for (const from of c.envFrom ?? []) {
        t.equal(from.configMapRef.name, configMap.metadata.name)
        Object.assign(env, configMap.data)
      }
      for (const variable of c.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef
        if (ref !== undefined) {
          t.equal(ref.name, secret.metadata.name, `${variable.name as string} from the Secret`)
          t.ok(ref.key in (secret.stringData ?? {}), `the Secret has ${ref.key as string}`)
          env[variable.name] = (secret.stringData ?? {})[ref.key] as string
        } else env[variable.name] = variable.value
      }
    }
    for (const variable of keygateNames(env)) t.ok(known.has(variable), `${name}: ${variable} is a known variable`)
    // The job runs `keygate migrate`, which needs the store only.
    if (name === 'server') t.same(await configurationProblems(filled({ ...base, ...env })), [], `${name}: keygate serve accepts this environment`)
  }
})

t.test('systemd: known variables that serve accepts; systemd-analyze verify where available', async (t) => {
  const unit = await read('deploy/systemd/keygate.service')
  const env = { ...envLines(unit, 'Environment='), ...envLines(await read('deploy/systemd/keygate.env')) }
  const known = await knownVariables()
  for (const name of keygateNames(env)) t.ok(known.has(name), `${name} is a known variable`)
  t.same(await configurationProblems(filled(env)), [], 'keygate serve accepts this environment')
  const analyze = await run('systemd-analyze', ['--version']).then(() => true, () => false)
  if (!analyze) {
    t.skip('systemd-analyze is not installed')
    return
  }
  const { stderr } = await run('systemd-analyze', ['verify', new URL('deploy/systemd/keygate.service', root).pathname])
  t.equal(stderr.trim(), '', 'systemd-analyze verify reports nothing')
})

t.test('docker build, where a Docker daemon answers', async (t) => {
  const daemon = await run('docker', ['info'], { timeout: 10_000 }).then(() => true, () => false)
  if (!daemon) {
    t.skip('no Docker daemon')
    return
  }
  await run('docker', ['build', '--quiet', '-t', 'keygate:test', new URL('.', root).pathname], { timeout: 1_200_000, maxBuffer: 16 << 20 })
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Config.User}} {{json .Config.Healthcheck.Test}}', 'keygate:test'])
  t.match(stdout, /^node /)
})

t.test('LICENSE is the Apache License 2.0, as package.json says; there is a CHANGELOG', async (t) => {
  const pkg = JSON.parse(await read('package.json')) as { license: string }
  t.equal(pkg.license, 'Apache-2.0')
  const license = await read('LICENSE')
  t.match(license, /^\s+Apache License\n\s+Version 2\.0, January 2004\n/)
  t.match(license, /END OF TERMS AND CONDITIONS/)
  t.equal(license.split('\n').length, 202, 'the whole text')
  t.match(await read('CHANGELOG.md'), /^# Changelog/m)
})
