export { keygatePlugin, authorizeRequestOf, type KeygatePluginOptions } from './fastify-plugin.js'
export { denialOf, identityHeadersOf, type HttpAnswer } from './http.js'
export { forwardAuth, forwardedRequest, isForwardAuthUrl, FORWARD_AUTH_PATH, type ForwardAuthCheck, type ForwardedRequest } from './forward-auth.js'
export { forwardAuthListener, type ForwardAuthListenerOptions, type RequestListener, type TrustProxy } from './node-http.js'
