/** Every relative link in README.md and docs/*.md names a file that exists (and a heading in it, for an anchor), and so does every repository path they name in code. */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]

/** Markdown without its fenced code blocks, where neither `[x](y)` nor `# x` is markdown. */
function unfenced (markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '')
}

/** GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const found = new Set<string>()
  for (const match of unfenced(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(match[1] as string)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    found.add(n === 0 ? base : `${base}-${n}`)
  }
  return found
}

function links (markdown: string): string[] {
  return [...unfenced(markdown).replace(/`[^`\n]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string)
}

t.test('the slug rule', async (t) => {
  t.equal(slug('gRPC ext_authz (Envoy, Istio)'), 'grpc-ext_authz-envoy-istio')
  t.equal(slug('Token introspection (RFC 7662)'), 'token-introspection-rfc-7662')
  t.equal(slug('Embedding: the Fastify plugin'), 'embedding-the-fastify-plugin')
  t.same(links('see [a](docs/a.md#b) and `[c](d)`\n```\n[e](f)\n```\n'), ['docs/a.md#b'])
})

/** Repository paths named in inline code, e.g. `src/config/variables.ts`, `test/audit/secrets.ts`. */
function namedPaths (markdown: string): string[] {
  return [...unfenced(markdown).matchAll(/`((?:src|test|policies|scripts|examples|deploy|bench|migrations|proto|bin)\/[A-Za-z0-9_./-]+)`/g)].map((m) => m[1] as string)
}

for (const page of PAGES) {
  t.test(page, async (t) => {
    const text = readFileSync(join(ROOT, page), 'utf8')
    t.equal((text.match(/^```/gm) ?? []).length % 2, 0, 'every code fence is closed (else links and headings after it are read as code)')
    const found = links(text).filter((link) => !/^[a-z][a-z0-9+.-]*:/i.test(link))
    t.ok(found.length > 0 || page !== 'README.md', 'the README links to the rest')
    for (const link of found) {
      const [path = '', anchor] = link.split('#')
      const target = path === '' ? join(ROOT, page) : join(dirname(join(ROOT, page)), decodeURIComponent(path))
      if (!t.ok(existsSync(target), `${link}: ${relative(ROOT, target)} exists`)) continue
      if (anchor !== undefined) t.ok(anchors(readFileSync(target, 'utf8')).has(anchor), `${link}: a heading #${anchor} in ${relative(ROOT, target)}`)
    }
    for (const path of namedPaths(text)) t.ok(existsSync(join(ROOT, path)), `\`${path}\` exists`)
  })
}
