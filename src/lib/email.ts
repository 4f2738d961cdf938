/**
 * The one e-mail rule: which addresses Keygate accepts, and the canonical
 * form it stores (keygate_users.email_canonical) and matches against. Used by
 * account management, the store, the JSON schemas and the X-RunAs-Child-User-Email
 * header alike.
 *
 * Letters, marks and digits of any script are accepted, so that an address
 * outside ASCII can be stored; but no character is ever mapped onto another
 * except ASCII A-Z onto a-z. No Unicode trimming, case folding or
 * normalisation: each of those maps some non-ASCII characters onto ASCII ones
 * (U+212A KELVIN SIGN folds and NFC-normalises to "k"/"K", U+0130 lower-cases
 * to "i" plus a mark, JavaScript's trim() drops NBSP, U+3000 and the BOM), so
 * a look-alike would name the account of the ASCII address.
 */
export const MAX_EMAIL_LENGTH = 254

const LOCAL_CHAR = "[\\p{L}\\p{M}\\p{N}!#$%&'*+/=?^_`{|}~.-]"
const LABEL = '[\\p{L}\\p{M}\\p{N}-]+'

/** local@domain, the domain with at least one dot; a `u`-flag pattern (as JSON Schema `pattern` and Ajv use it). */
export const EMAIL_PATTERN = `^${LOCAL_CHAR}{1,64}@${LABEL}(?:\\.${LABEL})+$`
const EMAIL = new RegExp(EMAIL_PATTERN, 'u')

/** True for an address in Keygate's grammar, exactly as given (nothing is trimmed). */
export function isEmail (value: string): boolean {
  return value.length <= MAX_EMAIL_LENGTH && EMAIL.test(value)
}

/** The form addresses are stored under and compared in: ASCII letters lower-cased, every other character kept. */
export function canonicalEmail (email: string): string {
  return email.replace(/[A-Z]+/g, (upper) => upper.toLowerCase())
}
