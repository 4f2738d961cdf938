export { keygatePlugin, authorizeRequestOf, type KeygatePluginOptions } from './fastify-plugin.js'
export { denialOf, identityHeadersOf, type HttpAnswer } from './http.js'
export { forwardedRequest, FORWARD_AUTH_PATH, type ForwardedRequest } from './forward-auth.js'
