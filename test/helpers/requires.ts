/**
 * The one rule for tests that need a real part of the world: a PostgreSQL
 * server, a streaming replica, nginx, Caddy, PgBouncer, promtool, openssl, the OPA CLI.
 *
 *   t.test('promtool check rules', async (t) => {
 *     if (missing(t, 'promtool')) return
 *     …
 *   })
 *
 * Outside CI a missing part skips the test, saying what installs it. With
 * CI=true it fails the test: .ci/run installs every part, so a skip there
 * would be a test quietly gone while the run stays green.
 */
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { testServerUrl } from './databases.js'
import { primaryServerUrl, replicaServerUrl } from './replication.js'

export type Part = 'postgres' | 'replica' | 'nginx' | 'caddy' | 'pgbouncer' | 'promtool' | 'openssl' | 'opa'

/** The OPA CLI that scripts/install-opa.sh puts in the repository. */
export const OPA = fileURLToPath(new URL('../../.tools/bin/opa', import.meta.url))

const INSTALLED_BY: Record<Part, string> = {
  postgres: 'set KEYGATE_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres',
  replica: 'scripts/start-replica.sh starts a primary and its streaming replica and prints KEYGATE_TEST_PRIMARY_URL and KEYGATE_TEST_REPLICA_URL',
  nginx: 'scripts/install-proxies.sh installs it',
  caddy: 'scripts/install-proxies.sh installs it',
  pgbouncer: 'scripts/install-tools.sh installs it',
  promtool: 'scripts/install-tools.sh installs it',
  openssl: 'scripts/install-tools.sh installs it',
  opa: 'scripts/install-opa.sh installs it'
}

/** The binary's path, searched in PATH and the sbin folders (nginx lives in /usr/sbin). */
export function findBinary (name: string): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']
  for (const folder of folders) {
    if (folder === '') continue
    try {
      accessSync(join(folder, name), constants.X_OK)
      return join(folder, name)
    } catch {}
  }
  return undefined
}

function present (part: Part): boolean {
  switch (part) {
    case 'postgres': return testServerUrl !== undefined
    case 'replica': return primaryServerUrl !== undefined && replicaServerUrl !== undefined
    case 'opa': return isExecutable(OPA)
    default: return findBinary(part) !== undefined
  }
}

function isExecutable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * True when the part is missing, after skipping t (outside CI) or failing it
 * (CI=true); the caller then returns. False when the test may go on.
 */
export function missing (t: Test, part: Part): boolean {
  if (present(part)) return false
  const why = `${part} is missing (${INSTALLED_BY[part]})`
  if (process.env.CI === 'true') t.fail(`CI=true: ${why}; a test that needs it may not be skipped`)
  else t.plan(0, why)
  return true
}
