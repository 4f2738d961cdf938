/**
 * The account restriction flags: the keys of `restrictions` in
 * policies/keygate/data.json, plus `impersonation`, which the impersonation
 * rules check. Anything else is refused wherever a flag is set (the store,
 * manage/, the API, the CLI), so that a typo cannot leave an account
 * unrestricted. A custom policy that adds a flag adds it here too
 * (test/policy/restrictions.ts keeps the two in step).
 */
export const RESTRICTIONS = ['impersonation', 'read-only', 'suspended'] as const

export type Restriction = typeof RESTRICTIONS[number]

export function isRestriction (flag: unknown): flag is Restriction {
  return typeof flag === 'string' && (RESTRICTIONS as readonly string[]).includes(flag)
}

/** For error messages: "impersonation, read-only, suspended". */
export const RESTRICTION_LIST = RESTRICTIONS.join(', ')
