export { createAuthorizer, defaultBundlePath } from './authorizer.js'
export type { Authorizer } from './authorizer.js'
export type { AuthorizerOptions, AuthorizerEvent } from './options.js'
export type { AuthorizationResult, AuthorizeRequest, ClientInfo, DecisionRecord, DecisionStatus, DecisionCode } from './result.js'
