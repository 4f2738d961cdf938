export { loadConfig, configWarnings, signingSecretProblem, ConfigError } from './load.js'
export { VARIABLES, TOOLING_VARIABLES, type Config, type Variable } from './variables.js'
export { auditConfigOf, policyConfigOf, sessionSettingsOf, throttleOf, tlsOf, workersOf, type SessionSettings } from './settings.js'
