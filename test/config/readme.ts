/** The configuration table (docs/configuration.md) and src/config/variables.ts name the same variables, with the same defaults. */
import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { VARIABLES } from '../../src/config/index.js'

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
const TABLE = 'docs/configuration.md'
/** Every other page of documentation: the README and docs/*.md. */
const OTHERS = ['README.md', ...readdirSync(new URL('../../docs/', import.meta.url)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  .filter((path) => path !== TABLE)

/** Rows of the markdown tables whose first cell names KEYGATE_* variables: [names, default cell]. */
function rows (markdown: string): Array<[string[], string]> {
  return markdown.split('\n')
    .filter((line) => /^\| `KEYGATE_/.test(line))
    .map((line) => {
      const [names = '', shown = ''] = line.split(' | ')
      return [[...names.matchAll(/`(KEYGATE_[A-Z0-9_*]+)`/g)].map((m) => m[1] as string), shown.trim()]
    })
}

t.test(`the table in ${TABLE} has a row for every variable, and only those`, async (t) => {
  const section = read(TABLE).split(/^## Variables$/m)[1]?.split(/^## /m)[0] ?? ''
  const documented = new Map<string, string>()
  for (const [names, shown] of rows(section)) for (const name of names) documented.set(name, shown)
  const known = new Map<string, string>(Object.values(VARIABLES).map((v) => [v.name, v.shown]))
  t.same([...documented.keys()].sort(), [...known.keys()].sort(), 'the same names (no wildcards)')
  for (const [name, shown] of known) t.equal(documented.get(name), shown, `${name}: the default column says what loadConfig() does`)
})

t.test('no other table describes a variable, so none can drift', async (t) => {
  t.ok(OTHERS.includes('README.md') && OTHERS.length > 1, 'the README and the other pages are read')
  const outside = read(TABLE).split(/^## Variables$/m).map((part, i) => i === 0 ? part : part.split(/^## /m).slice(1).join('\n')).join('\n')
  t.same(rows(outside), [], `${TABLE}, outside its Variables section`)
  for (const page of OTHERS) t.same(rows(read(page)), [], page)
})
