import { KeygateError } from '../errors.js'

/** A management request that cannot be carried out as asked; the message is safe to show the caller. */
export class ManageError extends KeygateError {
  static override code = 'MANAGE_ERROR'
}

export class InvalidInputError extends ManageError {
  static override code = 'INVALID_INPUT'
}

export class NotFoundError extends ManageError {
  static override code = 'NOT_FOUND'
}

export class ConflictError extends ManageError {
  static override code = 'CONFLICT'
}
