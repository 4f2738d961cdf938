import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/**
 * No cycle between the top-level parts of src/: each folder, and each file
 * directly in src/, is one node; an edge is any import (type-only included)
 * from one node to another.
 */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** The node a file belongs to: its top-level folder under src/, or its own name for a file directly in src/. */
function nodeOf (file: string): string {
  const [top = '', ...rest] = relative(SRC, file).split(/[\\/]/)
  return rest.length === 0 ? top.replace(/\.[jt]s$/, '') : top + '/'
}

/** Every module specifier of static imports and re-exports, side-effect imports and dynamic import() with a string literal. */
export function specifiers (text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const found: string[] = []
  for (const m of code.matchAll(/^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm)) found.push(m[1] as string)
  for (const m of code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) found.push(m[1] as string)
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1] as string)
  return found
}

/** node -> node -> one file-level import that makes the edge, for the failure message. */
function folderGraph (): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>()
  for (const file of sources(SRC)) {
    const from = nodeOf(file)
    const edges = graph.get(from) ?? new Map<string, string>()
    graph.set(from, edges)
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue
      const target = resolve(dirname(file), spec)
      if (relative(SRC, target).startsWith('..')) continue
      const to = nodeOf(target)
      if (to !== from && !edges.has(to)) edges.set(to, `${relative(SRC, file)} imports ${spec}`)
    }
  }
  return graph
}

/** The strongly connected components with more than one node (Tarjan). */
export function cycles (graph: Map<string, Map<string, string>>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (node: string): void => {
    index.set(node, next); low.set(node, next); next++
    stack.push(node); onStack.add(node)
    for (const to of graph.get(node)?.keys() ?? []) {
      if (!index.has(to)) { visit(to); low.set(node, Math.min(low.get(node)!, low.get(to)!)) } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!))
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = []
      let member: string
      do { member = stack.pop()!; onStack.delete(member); component.push(member) } while (member !== node)
      if (component.length > 1) found.push(component.sort())
    }
  }
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node)
  return found
}

t.test('the import parser sees every kind of import', async (t) => {
  t.same(specifiers([
    "import { a } from './a.js'",
    "import type { B } from '../b/b.js'",
    'export { c } from "./c.js"',
    "export * from './d.js'",
    "import './e.js'",
    'import {',
    '  f,',
    '  g',
    "} from './fg.js'",
    "const h = await import('./h.js')",
    "// import { no } from './comment.js'",
    "const text = 'not an import from ./x.js'"
  ].join('\n')), ['./a.js', '../b/b.js', './c.js', './d.js', './fg.js', './e.js', './h.js'])
})

t.test('cycles() finds a cycle, and only one', async (t) => {
  const graph = new Map([
    ['a/', new Map([['b/', 'a imports b']])],
    ['b/', new Map([['c/', 'b imports c']])],
    ['c/', new Map([['a/', 'c imports a']])],
    ['d/', new Map([['a/', 'd imports a']])]
  ])
  t.same(cycles(graph), [['a/', 'b/', 'c/']])
})

t.test('no import cycle between the top-level folders of src/', async (t) => {
  const graph = folderGraph()
  t.ok(graph.size > 5, 'src/ was read')
  for (const component of cycles(graph)) {
    const members = new Set(component)
    const edges = component.flatMap((from) => [...graph.get(from)!].filter(([to]) => members.has(to)).map(([to, why]) => `${from} -> ${to}: ${why}`))
    t.fail(`import cycle between ${component.join(', ')}`, { diagnostic: true, edges })
  }
})
