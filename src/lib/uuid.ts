import { randomUUID } from 'node:crypto'

let prefixMs = -1
let prefix = ''

/**
 * A UUIDv7 (RFC 9562 §5.7): the Unix time in ms in its first 48 bits, then
 * 74 random bits (randomUUID's, after its version digit). Ids made one after
 * another sort one after another, to the millisecond, so that an index on
 * them grows at its end rather than at random pages: the decision log's,
 * at its volume. (The `uuid` package's v7 costs ~6 µs a call on Node 20,
 * randomUUID ~0.2 µs.)
 */
export function uuidV7 (): string {
  const now = Date.now()
  if (now !== prefixMs) {
    const time = now.toString(16).padStart(12, '0')
    prefix = `${time.slice(0, 8)}-${time.slice(8, 12)}-7`
    prefixMs = now
  }
  return prefix + randomUUID().slice(15)
}
