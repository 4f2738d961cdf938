/**
 * HPACK (RFC 7541) for the gRPC transport: a decoder for the header blocks
 * clients send (static and dynamic tables, Huffman), and the one encoding
 * Keygate answers with, literals without indexing, so it keeps no table of
 * its own and never needs the peer's table size.
 */
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from './hpack-tables.js'

/** A block that breaks the compression state: a connection error (COMPRESSION_ERROR) for HTTP/2. */
export class HpackError extends Error {
  override name = 'HpackError'
}

/**
 * The Huffman decoder as a state machine over nibbles (as nghttp2 does): a
 * state is a node of the code tree, and no code is shorter than 5 bits, so a
 * nibble emits at most one octet. Per state and nibble: the next state, the
 * octet emitted (-1: none), and -2 where the nibble reaches EOS (an error).
 */
const HUFFMAN = (() => {
  // The code tree: children at 2n and 2n+1, a leaf holds -(symbol + 1).
  const tree: number[] = [0, 0]
  let nodes = 1
  for (let symbol = 0; symbol <= 256; symbol++) {
    const code = symbol === 256 ? 0x3fffffff : HUFFMAN_CODES[symbol] as number
    const length = symbol === 256 ? 30 : HUFFMAN_LENGTHS[symbol] as number
    let node = 0
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1)
      if (bit === 0) tree[slot] = -(symbol + 1)
      else {
        if (tree[slot] === 0 || tree[slot] === undefined) { tree[slot] = nodes++; tree.push(0, 0) }
        node = tree[slot] as number
      }
    }
  }
  const next = new Int16Array(nodes * 16)
  const emit = new Int16Array(nodes * 16)
  // A state may end a string: its path from the root is all ones and shorter than 8 bits (RFC 7541 §5.2 padding).
  const accepting = new Uint8Array(nodes)
  for (let node = 0, depth = 0; depth < 8; depth++) { accepting[node] = 1; node = tree[2 * node + 1] as number }
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state
      let emitted = -1
      for (let bit = 3; bit >= 0; bit--) {
        const child = tree[2 * node + ((nibble >>> bit) & 1)] as number
        if (child >= 0) { node = child; continue }
        if (child === -257) { emitted = -2; break }
        emitted = -child - 1
        node = 0
      }
      next[state * 16 + nibble] = node
      emit[state * 16 + nibble] = emitted
    }
  }
  return { next, emit, accepting }
})()

function huffmanDecode (bytes: Buffer, start: number, end: number): string {
  const { next, emit, accepting } = HUFFMAN
  let out = ''
  let state = 0
  for (let i = start; i < end; i++) {
    const byte = bytes[i] as number
    for (let at = state * 16 + (byte >>> 4), high = true; ; at = state * 16 + (byte & 15), high = false) {
      const emitted = emit[at] as number
      if (emitted === -2) throw new HpackError('EOS in a Huffman string')
      if (emitted >= 0) out += String.fromCharCode(emitted)
      state = next[at] as number
      if (!high) break
    }
  }
  if (accepting[state] !== 1) throw new HpackError('bad Huffman padding')
  return out
}

/** A decoded field: names as sent (HTTP/2 requires lower case), values as latin1 strings. */
export type HeaderField = [name: string, value: string]

/** One connection's decoder: blocks must be decoded in the order they came. */
export class HpackDecoder {
  /** Newest first. */
  #dynamic: HeaderField[] = []
  #size = 0
  #maxSize: number
  readonly #limit: number

  /** `tableSize`: the SETTINGS_HEADER_TABLE_SIZE Keygate advertised (4096 unless it says otherwise). */
  constructor (tableSize = 4096) {
    this.#maxSize = tableSize
    this.#limit = tableSize
  }

  /** Every field of a complete header block, in order. Throws HpackError on a block that breaks the state. */
  decode (block: Buffer): HeaderField[] {
    const fields: HeaderField[] = []
    let at = 0
    const integer = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1
      let value = (block[at++] as number) & mask
      if (value < mask) return value
      for (let shift = 0; ; shift += 7) {
        if (at >= block.length || shift > 21) throw new HpackError('bad integer')
        const byte = block[at++] as number
        value += (byte & 127) * 2 ** shift
        if ((byte & 128) === 0) return value
      }
    }
    const string = (): string => {
      if (at >= block.length) throw new HpackError('truncated string')
      const huffman = ((block[at] as number) & 0x80) !== 0
      const length = integer(7)
      const end = at + length
      if (end > block.length) throw new HpackError('truncated string')
      const value = huffman ? huffmanDecode(block, at, end) : block.toString('latin1', at, end)
      at = end
      return value
    }
    let sizeUpdateAllowed = true
    while (at < block.length) {
      const first = block[at] as number
      if ((first & 0x80) !== 0) {
        const index = integer(7)
        fields.push(this.#field(index))
      } else if ((first & 0x20) !== 0 && (first & 0x40) === 0) {
        // Dynamic table size update: only before the first field (§4.2), at most what was advertised.
        const size = integer(5)
        if (!sizeUpdateAllowed || size > this.#limit) throw new HpackError('bad table size update')
        this.#maxSize = size
        this.#evict(0)
        continue
      } else {
        const indexing = (first & 0x40) !== 0
        const index = integer(indexing ? 6 : 4)
        const name = index === 0 ? string() : this.#field(index)[0]
        const field: HeaderField = [name, string()]
        fields.push(field)
        if (indexing) this.#insert(field)
      }
      sizeUpdateAllowed = false
    }
    return fields
  }

  #field (index: number): HeaderField {
    if (index === 0) throw new HpackError('index 0')
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1] as HeaderField
    const field = this.#dynamic[index - STATIC_TABLE.length - 1]
    if (field === undefined) throw new HpackError('index past the tables')
    return field
  }

  #insert (field: HeaderField): void {
    const size = field[0].length + field[1].length + 32
    this.#evict(size)
    // An entry larger than the table empties it and is not added (§4.4).
    if (size > this.#maxSize) return
    this.#dynamic.unshift(field)
    this.#size += size
  }

  #evict (room: number): void {
    while (this.#size + room > this.#maxSize && this.#dynamic.length > 0) {
      const [name, value] = this.#dynamic.pop() as HeaderField
      this.#size -= name.length + value.length + 32
    }
  }
}

/** Encodes fields as literals without indexing (§6.2.2), plain octets; `:status` by its static index when it has one. */
export function encodeFields (fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: number[] = []
  const integer = (value: number, prefixBits: number, first: number): void => {
    const mask = (1 << prefixBits) - 1
    if (value < mask) { parts.push(first | value); return }
    parts.push(first | mask)
    value -= mask
    while (value >= 128) { parts.push((value % 128) + 128); value = Math.floor(value / 128) }
    parts.push(value)
  }
  const string = (value: string): void => {
    integer(value.length, 7, 0)
    for (let i = 0; i < value.length; i++) parts.push(value.charCodeAt(i) & 0xff)
  }
  for (const [name, value] of fields) {
    const exact = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value)
    if (exact >= 0 && name === ':status') { integer(exact + 1, 7, 0x80); continue }
    const named = STATIC_TABLE.findIndex(([n]) => n === name)
    if (named >= 0) integer(named + 1, 4, 0)
    else { parts.push(0); string(name) }
    string(value)
  }
  return Buffer.from(parts)
}
