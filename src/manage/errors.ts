/** A request that cannot be carried out as asked; the message is safe to show the caller. */
export class ManageError extends Error {
  static code = 'MANAGE_ERROR'
  code: string
  constructor (message: string, code = ManageError.code, options?: { cause?: unknown }) {
    super(message, options)
    this.name = this.constructor.name
    this.code = code
  }
}

export class InvalidInputError extends ManageError {
  static override code = 'INVALID_INPUT'
  constructor (message: string) { super(message, InvalidInputError.code) }
}

export class NotFoundError extends ManageError {
  static override code = 'NOT_FOUND'
  constructor (message = 'Not found') { super(message, NotFoundError.code) }
}

export class ConflictError extends ManageError {
  static override code = 'CONFLICT'
  constructor (message: string) { super(message, ConflictError.code) }
}
