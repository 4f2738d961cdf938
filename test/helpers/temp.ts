import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/**
 * A fresh folder `keygate-<name>-…` in the system's temporary folder, removed
 * with everything in it when `t` ends (after the teardowns registered later,
 * such as stopping a process that writes there). Not t.testdir(): its path is
 * too long for a Unix socket beside an embedded store, and PGlite may still be
 * finishing writes when tap would remove it.
 */
export function tempDir (t: Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `keygate-${name}-`))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) })
  return dir
}
