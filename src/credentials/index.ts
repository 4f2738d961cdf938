export { parseCredentials, MAX_AUTHORIZATION_LENGTH } from './parse.js'
export type { Headers, HeaderValue, ParsedCredentials, PresentedCredential, MalformedReason, RunAsValue } from './parse.js'
export { generateSecretKey, hashSecretKey, isWellFormedSecretKey, displayPrefix, SECRET_KEY_LENGTH, SECRET_KEY_PREFIX } from './secret-key.js'
export type { IssuedSecretKey } from './secret-key.js'
