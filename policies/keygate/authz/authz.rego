# METADATA
# title: Keygate authorization
# description: |
#   Decides one request from the facts TypeScript gathered (policy input v2,
#   policies/schema/input.json). Every rule that can allow is written
#   positively, so missing or malformed facts deny; reasons explain a denial
#   for the decision log and never reach the client.
# schemas:
#   - input: schema.input
package keygate.authz

import data.keygate.lib.routes
import data.keygate.lib.scopes
import data.keygate.lib.sessions

# METADATA
# title: Decision
# description: |
#   {allow, status, code, reasons, subject, actor, action}: 200 OK,
#   400 INVALID_REQUEST, 401 NOT_AUTHENTICATED, 403 NOT_AUTHORIZED or
#   429 RATE_LIMITED.
# entrypoint: true
decision := {
	"allow": allow,
	"status": status,
	"code": {200: "OK", 400: "INVALID_REQUEST", 401: "NOT_AUTHENTICATED", 403: "NOT_AUTHORIZED", 429: "RATE_LIMITED"}[status],
	"reasons": reasons,
	"subject": subject,
	"actor": actor,
	"action": action,
}

default allow := false

# Allowed, were it not for a rate limit or quota used up.
authorized if {
	well_formed_request
	authenticated
	action != null
	not impersonation_refused
	count(denials) == 0
}

allow if {
	authorized
	count(limits_exhausted) == 0
}

default status := 401

status := 200 if {
	allow
} else := 400 if {
	malformed_request
} else := 429 if {
	authorized
} else := 403 if {
	authenticated
}

# A denial always carries at least one reason, even in a case not foreseen below.
reasons := sort([r | some r in malformed_reasons]) if {
	malformed_request
} else := sort([r | some r in authn_reasons]) if {
	not authenticated
	count(authn_reasons) > 0
} else := [{"code": "not_authenticated", "msg": "not authenticated"}] if {
	not authenticated
} else := sort([r | some r in denials]) if {
	count(denials) > 0
} else := sort([r | some r in limits_exhausted]) if {
	authorized
	count(limits_exhausted) > 0
} else := [{"code": "not_authorized", "msg": "not authorized"}] if {
	not allow
} else := []

default subject := null

subject := target.id if {
	well_formed_request
	impersonating
} else := input.principal.id if {
	well_formed_request
	authenticated
}

default actor := null

actor := input.principal.id if {
	well_formed_request
	impersonating
} else := input.actor.id if {
	well_formed_request
	acting_by_credential
}

# ---------------------------------------------------------------- request

input_valid if {
	input.version == 2
	is_number(input.now)
	is_string(input.request.path)
	is_array(input.runAs)
}

path_invalid if routes.invalid(input.request.path)

default route := null

route := routes.parse(input.request.path) if not path_invalid

default action := null

action := routes.action(route, input.request.method) if route != null

# ---------------------------------------------------------- request syntax
# A request malformed by syntax alone is 400, whatever its credential: these
# facts never come from a lookup (TypeScript looks nothing up for such a
# request), so the answer tells nothing about any account or credential.

malformed_request if count(malformed_reasons) > 0

well_formed_request if not malformed_request

malformed_reasons contains {"code": "run_as_malformed", "msg": "an X-RunAs header is empty, repeated or outside its grammar"} if {
	some r in input.runAs
	r.wellFormed != true
}

malformed_reasons contains {"code": "run_as_repeated", "msg": "the account to act as is named twice the same way"} if {
	some via in {r.via | some r in input.runAs}
	count([r | some r in input.runAs; r.via == via]) > 1
}

# RFC 6750 §2: one method per request. A query access_token alone is ignored (no credential).
malformed_reasons contains {"code": "credential_two_methods", "msg": "an Authorization header and an access_token query parameter"} if {
	input.request.queryAccessToken == true
	input.credential.type in {"malformed", "secret_key", "session"}
}

# ---------------------------------------------------------- authentication

authenticated if {
	input_valid
	known_credential
	input.credential.revoked == false
	not_expired
	principal_usable
	delegation_valid
}

known_credential if {
	input.credential.type in {"secret_key", "session", "console_session"}
	input.credential.found == true
}

not_expired if input.credential.expiresAt == null

not_expired if {
	is_number(input.credential.expiresAt)
	input.credential.expiresAt > input.now
}

account_usable(acc) if {
	acc.status == "active"
	is_string(acc.id)
	is_array(acc.restrictions)
}

authn_reasons contains {"code": "input_invalid", "msg": "policy input is not version 2 or lacks required fields"} if {
	not input_valid
}

authn_reasons contains {"code": "credential_missing", "msg": "no credential was presented"} if {
	input.credential.type == "none"
}

authn_reasons contains {"code": "credential_not_bearer", "msg": "the Authorization header is of another scheme than Bearer"} if {
	input.credential.type == "other_scheme"
}

authn_reasons contains {"code": "credential_malformed", "msg": "the credential is malformed"} if {
	not credential_type_known
}

authn_reasons contains {"code": "credential_unknown", "msg": "the credential was not found"} if {
	input.credential.type in {"secret_key", "session", "console_session"}
	input.credential.found != true
}

authn_reasons contains {"code": "credential_revoked", "msg": "the credential was revoked"} if {
	known_credential
	input.credential.revoked == true
}

authn_reasons contains {"code": "credential_expired", "msg": "the credential has expired"} if {
	known_credential
	is_number(input.credential.expiresAt)
	input.credential.expiresAt <= input.now
}

authn_reasons contains {"code": "credential_incomplete", "msg": "the credential facts lack revoked, expiresAt or actorId"} if {
	known_credential
	not credential_facts_complete
}

authn_reasons contains {"code": "principal_inactive", "msg": "the credential's account is missing, disabled or deleted"} if {
	known_credential
	not principal_usable
}

# Negations below go through helper rules: OPA evaluates `not f(input.x)` as
# `t := input.x; not f(t)`, which is undefined, not true, when input.x is
# missing (open-policy-agent/opa#1877), and a deny must not vanish that way.

credential_type_known if input.credential.type in {"none", "other_scheme", "secret_key", "session", "console_session"}

# A console session carries the rights of the secret key that opened it: it is decided as that key.
key_credential if input.credential.type in {"secret_key", "console_session"}

credential_facts_complete if {
	is_boolean(input.credential.revoked)
	input.credential.expiresAt == null
	actor_id_given
}

credential_facts_complete if {
	is_boolean(input.credential.revoked)
	is_number(input.credential.expiresAt)
	actor_id_given
}

actor_id_given if input.credential.actorId == null

actor_id_given if delegated

principal_usable if account_usable(input.principal)

# ------------------------------------------- credentials minted for a child

# A credential that a parent minted for its child (or while acting as it)
# names the parent as its actor, and holds only while the parent is active and
# still the owner's parent: otherwise it is no credential at all (401).
delegated if is_string(input.credential.actorId)

delegation_valid if input.credential.actorId == null

delegation_valid if {
	actor_usable
	actor_is_parent
}

actor_usable if {
	delegated
	input.actor.id == input.credential.actorId
	account_usable(input.actor)
}

actor_is_parent if input.principal.parentId == input.actor.id

acting_by_credential if {
	authenticated
	delegated
}

authn_reasons contains {"code": "actor_inactive", "msg": "the account that minted the credential is missing, disabled or deleted"} if {
	known_credential
	delegated
	not actor_usable
}

authn_reasons contains {"code": "actor_not_parent", "msg": "the account that minted the credential is no longer its owner's parent"} if {
	known_credential
	actor_usable
	not actor_is_parent
}

# ----------------------------------------------------------- impersonation

impersonation_requested if count(input.runAs) > 0

# The account to act as; defined only when every impersonation rule holds.
target := t if {
	key_credential
	not delegated
	t := input.runAs[0].account
	every r in input.runAs {
		r.wellFormed == true
		r.account.id == t.id
	}
	t.parentId == input.principal.id
	t.id != input.principal.id
	not "impersonation" in input.principal.restrictions
	account_usable(t)
}

impersonating if {
	authenticated
	target
}

impersonation_refused if {
	impersonation_requested
	not impersonating
}

# A parent acting as its child, whichever way: the rules of impersonation apply to both.
acting if impersonating

acting if acting_by_credential

# Specific codes for the log only: every refusal yields the same 403 response.
impersonation_reasons contains {"code": "impersonation_session_token", "msg": "only a secret key may impersonate"} if {
	not key_credential
}

impersonation_reasons contains {"code": "impersonation_delegated", "msg": "a credential minted by a parent for its child cannot impersonate"} if {
	delegated
}

impersonation_reasons contains {"code": "impersonation_unknown_target", "msg": "the X-RunAs account was not found"} if {
	some r in input.runAs
	r.wellFormed == true
	r.account == null
}

impersonation_reasons contains {"code": "impersonation_conflict", "msg": "X-RunAs headers name different accounts"} if {
	count({r.account.id | some r in input.runAs}) > 1
}

impersonation_reasons contains {"code": "impersonation_self", "msg": "an account cannot impersonate itself"} if {
	some r in input.runAs
	r.account.id == input.principal.id
}

impersonation_reasons contains {"code": "impersonation_not_parent", "msg": "the caller is not the direct parent of the X-RunAs account"} if {
	some r in input.runAs
	r.account.id != input.principal.id
	r.account.parentId != input.principal.id
}

impersonation_reasons contains {"code": "impersonation_restricted", "msg": "the caller is restricted from impersonation"} if {
	"impersonation" in input.principal.restrictions
}

impersonation_reasons contains {"code": "impersonation_inactive_target", "msg": "the X-RunAs account is not active"} if {
	some r in input.runAs
	r.account != null
	not account_usable(r.account)
}

# ------------------------------------------------------------------ denials

denials contains r if {
	impersonation_refused
	some r in impersonation_reasons
}

denials contains {"code": "impersonation_refused", "msg": "impersonation refused"} if {
	impersonation_refused
	count(impersonation_reasons) == 0
}

denials contains {"code": "path_invalid", "msg": "the path is not canonical"} if path_invalid

denials contains {"code": "route_unknown", "msg": "the path is outside every known namespace"} if {
	not path_invalid
	route == null
}

denials contains {"code": "insecure_transport", "msg": "a credential was sent over plain HTTP"} if {
	data.keygate.config.require_https == true
	not https
}

https if input.request.scheme == "https"

# The subject's restrictions apply while acting as a child as well as the actor's.
effective_restrictions contains name if {
	some name in input.principal.restrictions
}

effective_restrictions contains name if {
	impersonating
	some name in target.restrictions
}

effective_restrictions contains name if {
	acting_by_credential
	some name in input.actor.restrictions
}

# The impersonation restriction covers every way of acting as a child: the
# X-RunAs-* headers (above), a credential the parent minted for the child, and
# minting one.
denials contains {"code": "impersonation_restricted", "msg": "the parent that minted the credential is restricted from impersonation"} if {
	acting_by_credential
	"impersonation" in input.actor.restrictions
}

denials contains {"code": "impersonation_restricted", "msg": "the caller is restricted from impersonation"} if {
	mints_child_credential
	"impersonation" in input.principal.restrictions
}

mints_child_credential if {
	route.namespace == "api"
	some pattern in child_credential_routes
	glob.match(pattern, ["/"], concat("/", route.segments))
}

# Without the table, every partner action counts as minting: a missing table takes rights away.
default child_credential_routes := ["partner/**"]

child_credential_routes := routes if {
	routes := data.keygate.impersonation.child_credential_routes
	is_array(routes)
}

denials contains {"code": rule.reason, "msg": concat("", ["the account is restricted: ", name])} if {
	some name in effective_restrictions
	rule := data.keygate.restrictions[name]
	not restriction_permits(rule, action)
}

restriction_permits(rule, act) if act.class in rule.classes

denials contains {"code": "scope_insufficient", "msg": "the key's scopes do not cover this action"} if {
	key_credential
	action != null
	not key_scopes_allow
}

key_scopes_allow if scopes.grants(input.credential.scopes, action)

denials contains {"code": "route_not_allowed", "msg": "the session's allowedRoutes do not cover this route"} if {
	input.credential.type == "session"
	route != null
	not session_routes_allow
}

session_routes_allow if sessions.route_allowed(input.credential.allowedRoutes, route.rest)

denials contains {"code": "session_not_permitted", "msg": "a session token cannot perform management or admin actions"} if {
	action.class in {"manage", "admin"}
	not key_credential
}

denials contains {"code": "admin_role_required", "msg": "the action needs an admin account"} if {
	action.class == "admin"
	not principal_is_admin
}

principal_is_admin if input.principal.role == "admin"

denials contains {"code": "admin_impersonation", "msg": "admin actions cannot be performed while impersonating"} if {
	action.class == "admin"
	impersonation_requested
}

denials contains {"code": "admin_impersonation", "msg": "admin actions cannot be performed with a credential minted for a child"} if {
	action.class == "admin"
	delegated
}

denials contains {"code": "impersonation_manage_forbidden", "msg": "keys and sub-accounts cannot be managed while acting as a child"} if {
	acting
	action.class == "manage"
	not impersonation_may_manage
}

# A child's keys and sub-accounts are managed through the partner endpoints, as
# the parent; only the resources listed here (sessions) are managed as the child.
impersonation_may_manage if action.resource in data.keygate.impersonation.manage_resources

# ------------------------------------------------------------- rate limits
# TypeScript counts (input.limits: the key's and its owner's limits, each with
# `exhausted`, whether its current window is used up, and `resetAt`, when that
# window ends; no raw counts, so inputs repeat and decisions are cached); the
# policy decides. An
# operator writes tiers or exemptions here or in data.keygate.limits:
# `exempt` lists account and key ids no limit applies to.

limits_exhausted contains {"code": concat("_", ["limit", l.scope, l.kind]), "msg": sprintf("the %s's %s of %d is used up", [l.scope, l.kind, l.limit])} if {
	some l in input.limits
	l.exhausted
	not l.id in data.keygate.limits.exempt
}
