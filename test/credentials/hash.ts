import t from 'tap'
import { generateSecretKey, hashSecretKey, hashSecretKeyBase64url } from '../../src/credentials/secret-key.js'

// Computed outside Keygate (Python: hashlib.sha256(key.encode())), so that the hash is checked against
// SHA-256 itself and not against the code under test.
const KNOWN = [
  {
    key: 'sk-00000000000000000000000000000000000000000003P9rQy',
    hex: '0a459ce4ea08287ba19428cdaeb595e3e7e4993f34eb910872eae52ec1f7afc4',
    base64url: 'CkWc5OoIKHuhlCjNrrWV4-fkmT8065EIcurlLsH3r8Q'
  },
  {
    key: 'sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ0hRJln',
    hex: '72e48eaf83021903c73ac1883a536fbcfe43c4dcf9ff59a1102585c147f2307d',
    base64url: 'cuSOr4MCGQPHOsGIOlNvvP5DxNz5_1mhECWFwUfyMH0'
  }
]

t.test('known answers: the SHA-256 of the whole key, as bytes and as base64url text', async (t) => {
  for (const { key, hex, base64url } of KNOWN) {
    t.equal(hashSecretKey(key).toString('hex'), hex, key)
    t.equal(hashSecretKeyBase64url(key), base64url, key)
  }
})

t.test('hashSecretKeyBase64url is the SHA-256 of hashSecretKey, as text', async (t) => {
  for (let i = 0; i < 20; i++) {
    const { key, hash } = generateSecretKey()
    t.equal(hashSecretKeyBase64url(key), hash.toString('base64url'))
    t.same(Buffer.from(hashSecretKeyBase64url(key), 'base64url'), hashSecretKey(key))
  }
})
