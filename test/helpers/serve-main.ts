/**
 * `keygate serve` from the sources, as a script file of its own: node:cluster
 * forks workers by re-running process.argv[1] with the same execArgv
 * (`--import tsx`), which a `-e` script could not give it.
 *
 *   node --import tsx test/helpers/serve-main.ts serve
 */
import { main } from '../../src/cli/main.js'

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
