import { KeygateError, type KeygateErrorCode } from '../errors.js'

/** A management request that cannot be carried out as asked; the message is safe to show the caller. */
export abstract class ManageError extends KeygateError {}

export class InvalidInputError extends ManageError {
  static override code: KeygateErrorCode = 'INVALID_INPUT'
}

export class NotFoundError extends ManageError {
  static override code: KeygateErrorCode = 'NOT_FOUND'
}

export class ConflictError extends ManageError {
  static override code: KeygateErrorCode = 'CONFLICT'
}
