import { createHash } from 'node:crypto'
import t from 'tap'
import {
  displayPrefix, generateSecretKey, hashSecretKey, isWellFormedSecretKey, SECRET_KEY_LENGTH
} from '../../src/credentials/secret-key.js'

t.test('generated keys have the documented shape and a valid checksum', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const { key, hash, prefix } = generateSecretKey()
    t.match(key, /^sk-[0-9A-Za-z]{49}$/)
    t.equal(key.length, SECRET_KEY_LENGTH)
    t.ok(isWellFormedSecretKey(key))
    t.same(hash, createHash('sha256').update(key).digest(), 'the SHA-256 of the key')
    t.same(hashSecretKey(key), hash)
    t.equal(hash.length, 32)
    t.equal(prefix, key.slice(0, 9))
    seen.add(key)
  }
  t.equal(seen.size, 200, 'no two keys alike')
})

t.test('known answers: the checksum is the CRC-32 (IEEE) of everything before it, in six base62 digits', async (t) => {
  // Computed outside Keygate (Python: zlib.crc32(body.encode()), written in 0-9A-Za-z, most significant digit first).
  for (const [body, checksum] of [
    ['sk-0000000000000000000000000000000000000000000', '3P9rQy'], // CRC-32 0xb9f9d244
    ['sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ', '0hRJln'] // CRC-32 0x264283b7
  ] as const) {
    t.ok(isWellFormedSecretKey(body + checksum), body)
  }
})

t.test('a single changed character fails the checksum', async (t) => {
  const { key } = generateSecretKey()
  for (let i = 3; i < key.length; i++) {
    const swapped = key[i] === 'a' ? 'b' : 'a'
    const forged = key.slice(0, i) + swapped + key.slice(i + 1)
    t.notOk(isWellFormedSecretKey(forged), `position ${i}`)
  }
})

t.test('wrong shapes are refused', async (t) => {
  const { key } = generateSecretKey()
  for (const bad of ['', 'sk-', key.slice(0, -1), key + 'a', key.replace('sk-', 'pk-'), key.replace('sk-', 'SK-'),
    key.slice(0, 10) + '_' + key.slice(11), key.slice(0, 10) + '-' + key.slice(11), ` ${key}`]) {
    t.notOk(isWellFormedSecretKey(bad), JSON.stringify(bad))
  }
})

t.test('characters are spread over the whole alphabet', async (t) => {
  const counts = new Map<string, number>()
  for (let i = 0; i < 500; i++) {
    for (const c of generateSecretKey().key.slice(3, 46)) counts.set(c, (counts.get(c) ?? 0) + 1)
  }
  t.equal(counts.size, 62)
  const expected = (500 * 43) / 62
  for (const [c, n] of counts) t.ok(n > expected * 0.6 && n < expected * 1.4, `${c}: ${n}`)
})

t.test('display prefix is short and not the secret', async (t) => {
  const { key } = generateSecretKey()
  t.equal(displayPrefix(key), key.slice(0, 9))
})
