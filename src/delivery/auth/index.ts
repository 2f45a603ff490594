// Outbound authentication for REST sinks, and the masking every log line uses.
export { authSchema, createAuthenticator, type AuthOptions, type Authenticator, type AuthenticatorDeps } from './auth.js';
export { AuthError } from './auth-error.js';
export { maskHeaders, masker, maskText, maskUrl } from './mask.js';
