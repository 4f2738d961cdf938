import { resolve } from 'node:path'
import type { Command } from 'commander'
import { DEFAULT_DATA_DIR } from '../store/index.js'
import { adminSocketPath, listenAdminSocket } from './admin-socket.js'
import { ExitCode, type Runner } from './context.js'

export function register (program: Command, runner: Runner): void {
  program.command('serve').description('run the authorizer server, configured by KEYGATE_* variables (see docs/configuration.md)')
    .action(async (_o: unknown, c: Command) => {
      const { serve } = await import('../server/serve.js')
      const { databaseUrl, dataDir } = c.optsWithGlobals<{ databaseUrl?: string; dataDir?: string }>()
      const env = {
        ...runner.io.env,
        ...(databaseUrl === undefined ? {} : { KEYGATE_DATABASE_URL: databaseUrl }),
        ...(dataDir === undefined ? {} : { KEYGATE_DATA_DIR: dataDir })
      }
      const code = await serve({ env, stdout: runner.io.stdout }, {
        onListening: async (server) => {
          const config = runner.config(c)
          const folder = config.dataDir ?? DEFAULT_DATA_DIR
          if (config.databaseUrl !== undefined || folder.startsWith('memory://')) return
          // The embedded store is this process's alone: the CLI reaches it through this socket meanwhile.
          const path = adminSocketPath(resolve(folder))
          const socket = await listenAdminSocket(path, runner.operations, {
            store: server.store, sessions: async () => server.sessions, policyBundle: config.policyBundle
          })
          if (socket === null) server.app.log.warn(`admin socket: ${path} is too long for a Unix socket; the CLI cannot reach the store while this server runs`)
          else {
            server.closeFirst(socket.close)
            server.app.log.info({ path }, 'admin socket: the CLI reaches the store through it while this server runs')
          }
        }
      })
      if (code !== 0) throw new ExitCode(code)
    })
}
