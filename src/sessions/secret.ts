import { randomBytes } from 'node:crypto'
import { link, mkdir, open, unlink, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { SessionConfigError } from './errors.js'

const SECRET_BYTES = 32
const HEX = /^[0-9a-fA-F]{64}$/
const BASE64 = /^[A-Za-z0-9+/]{43}=?$/
const BASE64URL = /^[A-Za-z0-9_-]{43}$/

/** Parses a 32-byte secret written as hex (64 characters) or base64/base64url (43 characters, optional `=`). */
export function parseSigningSecret (text: string): Buffer {
  const value = text.trim()
  let bytes: Buffer | null = null
  if (HEX.test(value)) bytes = Buffer.from(value, 'hex')
  else if (BASE64.test(value)) bytes = Buffer.from(value, 'base64')
  else if (BASE64URL.test(value)) bytes = Buffer.from(value, 'base64url')
  if (bytes?.length !== SECRET_BYTES) {
    throw new SessionConfigError('the signing secret must be 32 bytes written as base64 or hex (e.g. `openssl rand -base64 32`)')
  }
  return bytes
}

/**
 * The embedded store's signing secret, read from `path`; the first time, the
 * file is created with a random secret, mode 0600, in a folder of mode 0700.
 * A file others may read is refused.
 */
export async function signingSecretFromFile (path: string): Promise<Buffer> {
  try {
    return await readKeyFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await createKeyFile(path)
  return await readKeyFile(path)
}

async function createKeyFile (path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  // Written aside, then linked into place: link fails if the file exists, so two processes
  // starting at once agree on one secret, and no reader ever sees a half-written file.
  const draft = `${path}.${randomBytes(6).toString('hex')}.tmp`
  await writeFile(draft, randomBytes(SECRET_BYTES).toString('base64') + '\n', { mode: 0o600, flag: 'wx' })
  try {
    await link(draft, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    await unlink(draft)
  }
}

async function readKeyFile (path: string): Promise<Buffer> {
  const file = await open(path, 'r')
  try {
    const { mode } = await file.stat()
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new SessionConfigError(`${path} is readable by other users; run: chmod 600 ${path}`)
    }
    try {
      return parseSigningSecret(await file.readFile('utf8'))
    } catch (error) {
      throw new SessionConfigError(`${path} does not hold a 32-byte base64 or hex secret`, { cause: error })
    }
  } finally {
    await file.close()
  }
}
