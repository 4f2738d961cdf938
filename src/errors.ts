/**
 * The root of Keygate's coded errors. Each subclass declares a stable
 * `static code`; instances carry the same `code`, `name` is the class name,
 * and the underlying error is kept as `cause`. Coded errors describe
 * untrusted input or infrastructure faults; programmer misuse (bad options)
 * throws a plain TypeError instead.
 */
export class KeygateError extends Error {
  static code = 'KEYGATE_ERROR'
  readonly code: string

  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = (new.target as typeof KeygateError).code
  }
}
