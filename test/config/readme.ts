/** The README's configuration table and src/config/variables.ts name the same variables, with the same defaults. */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { VARIABLES } from '../../src/config/index.js'

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/** Rows of the markdown tables whose first cell names KEYGATE_* variables: [names, default cell]. */
function rows (markdown: string): Array<[string[], string]> {
  return markdown.split('\n')
    .filter((line) => /^\| `KEYGATE_/.test(line))
    .map((line) => {
      const [names = '', shown = ''] = line.split(' | ')
      return [[...names.matchAll(/`(KEYGATE_[A-Z0-9_*]+)`/g)].map((m) => m[1] as string), shown.trim()]
    })
}

t.test('the table under "### Configuration" has a row for every variable, and only those', async (t) => {
  const section = README.split(/^### Configuration$/m)[1]?.split(/^#{2,3} /m)[0] ?? ''
  const documented = new Map<string, string>()
  for (const [names, shown] of rows(section)) for (const name of names) documented.set(name, shown)
  const known = new Map<string, string>(Object.values(VARIABLES).map((v) => [v.name, v.shown]))
  t.same([...documented.keys()].sort(), [...known.keys()].sort(), 'the same names (no wildcards)')
  for (const [name, shown] of known) t.equal(documented.get(name), shown, `${name}: the default column says what loadConfig() does`)
})

t.test('no other table in the README describes a variable, so none can drift', async (t) => {
  const elsewhere = README.split(/^### Configuration$/m).map((part, i) => i === 0 ? part : part.split(/^#{2,3} /m).slice(1).join('\n')).join('\n')
  t.same(rows(elsewhere), [])
})
