/**
 * Policy bundles for reload tests: the built one (`npm run policy:build`),
 * the same with another revision, and ones that must be refused.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gunzipSync, gzipSync } from 'node:zlib'
import type { Test } from 'tap'
import { extract, pack } from 'tar-stream'
import { DEFAULT_BUNDLE_PATH } from '../../src/policy/engine.js'
import { tempDir } from './temp.js'

export function builtBundle (): Buffer {
  return readFileSync(DEFAULT_BUNDLE_PATH)
}

/** The bundle with its `.manifest` revision replaced: the same policy, as a new release. */
export async function withRevision (bundle: Uint8Array, revision: string): Promise<Buffer> {
  const entries: Array<{ name: string; body: Buffer }> = []
  const reader = extract()
  Readable.from([gunzipSync(bundle)]).pipe(reader)
  for await (const entry of reader) {
    const chunks: Buffer[] = []
    for await (const chunk of entry) chunks.push(chunk as Buffer)
    if (entry.header.type === 'file') entries.push({ name: entry.header.name, body: Buffer.concat(chunks) })
  }
  const writer = pack()
  for (const { name, body } of entries) {
    const manifest = name.replace(/^\/+/, '') === '.manifest'
    const content = manifest ? Buffer.from(JSON.stringify({ ...JSON.parse(body.toString()), revision })) : body
    writer.entry({ name, size: content.length }, content)
  }
  writer.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of writer) chunks.push(chunk as Buffer)
  return gzipSync(Buffer.concat(chunks))
}

/** The pinned OPA CLI (`scripts/install-opa.sh` prints its path). */
export function opaPath (): string {
  return execFileSync('bash', ['scripts/install-opa.sh'], { encoding: 'utf8' }).trim()
}

/** A well-formed bundle whose policy allows everything, even without a credential: the smoke decisions refuse it. */
export function allowAllBundle (t: Test): Buffer {
  const dir = tempDir(t, 'allow-all')
  mkdirSync(join(dir, 'src'))
  writeFileSync(join(dir, 'src', 'authz.rego'), [
    'package keygate.authz',
    '',
    'decision := {"allow": true, "status": 200, "code": "OK", "reasons": [], "subject": "usr_anyone",',
    '  "actor": null, "action": {"resource": "bot", "verb": "list", "class": "read"}}',
    ''
  ].join('\n'))
  execFileSync(opaPath(), ['build', '-t', 'wasm', '-e', 'keygate/authz/decision', '--revision', 'allow-all',
    '-o', join(dir, 'bundle.tar.gz'), join(dir, 'src')], { stdio: 'pipe' })
  return readFileSync(join(dir, 'bundle.tar.gz'))
}

/**
 * The default policy plus one rule, built by the OPA CLI as scripts/policy.sh
 * builds it: deleting a bot (`bot/{id}/delete`) is refused (403 `bot_delete_forbidden`). Written
 * to a temp folder; returns the file's path.
 */
export function forbidBotDeleteBundle (t: Test): string {
  const dir = tempDir(t, 'forbid-bot-delete')
  cpSync('policies', join(dir, 'policies'), { recursive: true })
  writeFileSync(join(dir, 'policies/keygate/authz/forbid_bot_delete.rego'), [
    'package keygate.authz',
    '',
    'denials contains {"code": "bot_delete_forbidden", "msg": "bots cannot be deleted"} if {',
    '\troute.namespace == "api"',
    '\tglob.match("bot/*/delete", ["/"], concat("/", route.segments))',
    '}',
    ''
  ].join('\n'))
  const bundle = join(dir, 'bundle.tar.gz')
  execFileSync(opaPath(), ['build', '-t', 'wasm', '-e', 'keygate/authz/decision', '--capabilities', 'build/capabilities.json',
    '--revision', 'forbid-bot-delete', '--ignore', '*_test.rego', '--ignore', 'schema', '-o', bundle, join(dir, 'policies')], { stdio: 'pipe' })
  return bundle
}

/** Answers a request itself (a body that never ends, one without a length, …). */
export type BundleHandler = (request: IncomingMessage, response: ServerResponse) => void

export interface BundleServer {
  url: string
  /** What the server hands out from now on: a bundle (with its ETag), an HTTP error status, or a handler's answer. */
  serve(next: Buffer | number | BundleHandler): void
  /** Responses by status code. */
  answered: Map<number, number>
}

/**
 * A bundle server on 127.0.0.1 speaking OPA's bundle protocol: ETag,
 * If-None-Match, 304. With a token, a request without `Authorization: Bearer <token>` is a 401.
 */
export async function bundleServer (t: Test, first: Buffer, options: { token?: string } = {}): Promise<BundleServer> {
  let current: Buffer | number | BundleHandler = first
  let version = 0
  const answered = new Map<number, number>()
  const answer = (status: number): number => { answered.set(status, (answered.get(status) ?? 0) + 1); return status }
  const server: Server = createServer((request, response) => {
    if (options.token !== undefined && request.headers.authorization !== `Bearer ${options.token}`) {
      response.writeHead(answer(401), { 'www-authenticate': 'Bearer' }).end('unauthorized')
      return
    }
    if (typeof current === 'function') {
      current(request, response)
      return
    }
    if (typeof current === 'number') {
      response.writeHead(answer(current)).end('unavailable')
      return
    }
    const etag = `"v${version}"`
    if (request.headers['if-none-match'] === etag) {
      response.writeHead(answer(304), { etag }).end()
      return
    }
    response.writeHead(answer(200), { etag, 'content-type': 'application/gzip', 'content-length': current.length }).end(current)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  })
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/bundles/keygate.tar.gz`,
    serve (next) {
      current = next
      version++
    },
    answered
  }
}
