#!/usr/bin/env node
// A checkout (after `npm ci`) runs the TypeScript sources through tsx, so no build step can be forgotten
// or stale; an installed package (no src/, or no dev dependencies) runs the compiled dist/.
import { existsSync } from 'node:fs'

const source = new URL('../src/cli/main.ts', import.meta.url)
const built = new URL('../dist/cli/main.js', import.meta.url)

async function load () {
  if (existsSync(source)) {
    const tsx = await import('tsx/esm/api').catch(() => null)
    if (tsx !== null) return await tsx.tsImport(source.href, import.meta.url)
  }
  if (existsSync(built)) return await import(built.href)
  return null
}

const cli = await load()
if (cli === null) {
  process.stderr.write('keygate: not built: run `npm run build` (or `npm ci` in a checkout, to run from the sources)\n')
  process.exitCode = 1
} else {
  process.exitCode = await cli.main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
}
