import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
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

/**
 * A tempDir that the given system user (`postgres`) owns and can reach, for
 * a server that refuses to run as root (PostgreSQL, PgBouncer). The folders
 * above it get the search bit for others (o+x, no listing), since the test
 * run's own TMPDIR is private (0700).
 */
export function tempDirOwnedBy (t: Test, name: string, user: string): string {
  const dir = tempDir(t, name)
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim())
  chownSync(dir, uid, gid)
  chmodSync(dir, 0o700)
  for (let above = dirname(dir); above !== dirname(above); above = dirname(above)) {
    const { mode } = statSync(above)
    if ((mode & 0o001) === 0) chmodSync(above, (mode & 0o7777) | 0o001)
  }
  return dir
}
