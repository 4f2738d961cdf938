import type { Authorizer } from '../../authorizer/authorizer.js'

/** What the management and operator routes work with. */
export interface ManageContext {
  authorizer: Pick<Authorizer, 'store' | 'invalidate'>
  /** The clock new keys, expiries and roll deadlines are counted from (the authorizer's, in tests). */
  now: () => Date
}
