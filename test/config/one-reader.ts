/** Only src/config/ reads KEYGATE_* variables: no module keeps a reader (or a default) of its own. */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

function files (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [])
}

t.test('no KEYGATE_* variable is read outside src/config/', async (t) => {
  const readers = files(SRC)
    .filter((file) => !relative(SRC, file).startsWith('config/'))
    .filter((file) => /env(\.|\[\s*['"`])KEYGATE_/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(SRC, file))
  t.same(readers, [])
})
