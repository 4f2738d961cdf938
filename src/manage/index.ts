export * from './errors.js'
export * from './keys.js'
export * from './accounts.js'
export * from './limits.js'
