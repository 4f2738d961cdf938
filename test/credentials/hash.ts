import t from 'tap'
import { generateSecretKey, hashSecretKey } from '../../src/credentials/secret-key.js'
import { hashSecretKeyBase64url } from '../../src/credentials/secret-key.js'

t.test('hashSecretKeyBase64url is the SHA-256 of hashSecretKey, as text', async (t) => {
  for (let i = 0; i < 20; i++) {
    const { key, hash } = generateSecretKey()
    t.equal(hashSecretKeyBase64url(key), hash.toString('base64url'))
    t.same(Buffer.from(hashSecretKeyBase64url(key), 'base64url'), hashSecretKey(key))
  }
})
