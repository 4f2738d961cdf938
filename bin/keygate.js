#!/usr/bin/env node
// Runs the compiled dist/ when it is at least as new as the TypeScript sources (an installed package has
// no src/; `npm run build` and `npm start` build first); otherwise a checkout right after `npm ci`
// runs the sources through tsx, so a build step can be neither forgotten nor stale.
import { existsSync, readdirSync, statSync } from 'node:fs'

const sources = new URL('../src/', import.meta.url)
const source = new URL('cli/main.ts', sources)
const built = new URL('../dist/cli/main.js', import.meta.url)

function newest (dir) {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

async function load () {
  const hasSources = existsSync(source)
  if (existsSync(built) && (!hasSources || statSync(built).mtimeMs >= newest(sources))) return await import(built.href)
  if (hasSources) {
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
