import { KeygateError, type KeygateErrorCode } from '../errors.js'
import type { Sessions } from '../sessions/index.js'
import type { Store } from '../store/index.js'

/** What an operation runs against: the CLI's own store, or a running server's (through its admin socket). */
export interface OperationContext {
  store: Store
  /** The session-token service on that store (made on first use, with the signing secret of whoever runs the operation). */
  sessions(): Promise<Sessions>
  /** The policy bundle the server decides with (for `policy explain`). */
  policyBundle: string
}

/**
 * One management action: JSON parameters in, the JSON the CLI prints with
 * `--json` out (the HTTP API's field names and formats). Both cross the admin
 * socket as they are, so neither holds a Date or a Buffer.
 */
export type Operation = (context: OperationContext, params: Record<string, unknown>) => Promise<unknown>

export type Operations = Record<string, Operation>

/** A refused operation: exit 1, with the message (no usage text). */
export class OperationError extends KeygateError {
  constructor (message: string, code: KeygateErrorCode = 'OPERATION_FAILED') {
    super(message, { code })
  }
}
