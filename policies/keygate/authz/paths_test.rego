# Every allow path and every deny reason of authz.rego, tested directly, so
# that `opa test` covers the policy without test/fixtures/policy-cases.json and
# the suite does not rest on the fixture runner alone.
package keygate.authz_paths_test

import data.keygate.authz

now := 1767225600000

parent := {"id": "usr_parent", "parentId": null, "role": "user", "status": "active", "restrictions": []}

admin := object.union(parent, {"role": "admin"})

child := {"id": "usr_child", "parentId": "usr_parent", "role": "user", "status": "active", "restrictions": []}

grandchild := object.union(child, {"id": "usr_grandchild", "parentId": "usr_child"})

key := {"type": "secret_key", "found": true, "id": "key_1", "expiresAt": null, "revoked": false, "scopes": null, "actorId": null}

session := {"type": "session", "found": true, "expiresAt": null, "revoked": false, "allowedRoutes": null, "actorId": null}

# A request with a valid unscoped key of `parent`; `changes` replace top-level fields.
request(path, changes) := object.union(
	{
		"version": 2,
		"now": now,
		"request": {"method": "GET", "path": path, "scheme": "https"},
		"credential": key,
		"principal": parent,
		"actor": null,
		"runAs": [],
	},
	changes,
)

run_as(account) := {"via": "user_id", "wellFormed": true, "account": account}

codes(d) := [r.code | some r in d.reasons]

# The outward part of a decision, the same for every refusal of one kind.
outward(d) := {"allow": d.allow, "status": d.status, "code": d.code}

unauthenticated := {"allow": false, "status": 401, "code": "NOT_AUTHENTICATED"}

refused := {"allow": false, "status": 403, "code": "NOT_AUTHORIZED"}

# ------------------------------------------------------------ allow paths

test_key_expiring_later_is_allowed if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": object.union(key, {"expiresAt": now + 1})})
	d.allow
	d.status == 200
	d.subject == "usr_parent"
}

test_session_within_its_allowed_routes_is_allowed if {
	s := object.union(session, {"allowedRoutes": ["bot/**"], "expiresAt": now + 60000})
	d := authz.decision with input as request("/api/v1/bot/bot_1/fetch", {"credential": s})
	d.allow
	d.subject == "usr_parent"
	d.action.class == "read"
}

test_session_with_null_allowed_routes_is_allowed_everywhere_but_management if {
	d := authz.decision with input as request("/v1/dataset/ds_1/update", {"credential": session})
	d.allow
	d.action.class == "write"
}

test_read_only_account_may_read if {
	d := authz.decision with input as request("/api/v1/bot/list", {"principal": object.union(parent, {"restrictions": ["read-only"]})})
	d.allow
}

test_parent_acting_as_its_child_is_allowed_as_the_child if {
	d := authz.decision with input as request("/api/v1/bot/list", {"runAs": [run_as(child)]})
	d.allow
	d.subject == "usr_child"
	d.actor == "usr_parent"
}

test_both_run_as_headers_naming_the_child_are_allowed if {
	d := authz.decision with input as request("/api/v1/bot/list", {"runAs": [run_as(child), object.union(run_as(child), {"via": "email"})]})
	d.allow
	d.subject == "usr_child"
}

test_admin_key_may_use_the_operator_api if {
	d := authz.decision with input as request("/admin/v1/user/create", {"principal": admin})
	d.allow
	d.action.class == "admin"
}

test_key_may_manage_its_own_keys if {
	d := authz.decision with input as request("/api/v1/token/create", {})
	d.allow
	d.action.class == "manage"
}

# ------------------------------------------------------- authentication (401)

test_unknown_secret_key_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": {"type": "secret_key", "found": false}, "principal": null})
	outward(d) == unauthenticated
	d.subject == null
	codes(d) == ["credential_unknown"]
}

test_unknown_session_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": {"type": "session", "found": false}, "principal": null})
	outward(d) == unauthenticated
	codes(d) == ["credential_unknown"]
}

test_revoked_key_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": object.union(key, {"revoked": true})})
	outward(d) == unauthenticated
	d.subject == null
	codes(d) == ["credential_revoked"]
}

test_key_expiring_now_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": object.union(key, {"expiresAt": now})})
	outward(d) == unauthenticated
	codes(d) == ["credential_expired"]
}

test_expired_session_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": object.union(session, {"expiresAt": now - 1})})
	outward(d) == unauthenticated
	codes(d) == ["credential_expired"]
}

test_revoked_and_expired_key_names_both if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": object.union(key, {"revoked": true, "expiresAt": now - 1})})
	outward(d) == unauthenticated
	codes(d) == ["credential_expired", "credential_revoked"]
}

test_disabled_account_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", {"principal": object.union(parent, {"status": "disabled"})})
	outward(d) == unauthenticated
	codes(d) == ["principal_inactive"]
}

test_unknown_credential_type_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": {"type": "basic", "found": true}})
	outward(d) == unauthenticated
	codes(d) == ["credential_malformed"]
}

test_bad_credential_with_run_as_is_still_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": object.union(key, {"revoked": true}), "runAs": [run_as(child)]})
	outward(d) == unauthenticated
	d.subject == null
	d.actor == null
	codes(d) == ["credential_revoked"]
}

# -------------------------------------------------------- impersonation (403)

# Every refusal: 403, the caller stays the subject, nobody is the actor, and
# exactly the one reason names why (for the log only).
refusal(changes, path) := d if {
	d := authz.decision with input as request(path, changes)
	outward(d) == refused
	d.subject == "usr_parent"
	d.actor == null
}

test_impersonation_with_a_session_token_is_refused if {
	d := refusal({"credential": session, "runAs": [run_as(child)]}, "/api/v1/bot/list")
	codes(d) == ["impersonation_session_token"]
}

test_impersonation_with_a_malformed_header_is_a_bad_request if {
	d := authz.decision with input as request("/api/v1/bot/list", {"runAs": [{"via": "user_id", "wellFormed": false, "account": null}]})
	d.status == 400
	d.code == "INVALID_REQUEST"
	codes(d) == ["run_as_malformed"]
}

test_impersonation_of_an_unknown_account_is_refused if {
	d := refusal({"runAs": [run_as(null)]}, "/api/v1/bot/list")
	codes(d) == ["impersonation_unknown_target"]
}

test_impersonation_headers_naming_two_accounts_are_refused if {
	sibling := object.union(child, {"id": "usr_sibling"})
	d := refusal({"runAs": [run_as(child), object.union(run_as(sibling), {"via": "email"})]}, "/api/v1/bot/list")
	codes(d) == ["impersonation_conflict"]
}

test_impersonation_of_oneself_is_refused if {
	d := refusal({"runAs": [run_as(parent)]}, "/api/v1/bot/list")
	codes(d) == ["impersonation_self"]
}

test_impersonation_of_a_grandchild_is_refused if {
	d := refusal({"runAs": [run_as(grandchild)]}, "/api/v1/bot/list")
	codes(d) == ["impersonation_not_parent"]
}

test_impersonation_by_a_restricted_parent_is_refused if {
	p := object.union(parent, {"restrictions": ["impersonation"]})
	d := refusal({"principal": p, "runAs": [run_as(child)]}, "/api/v1/bot/list")
	codes(d) == ["impersonation_restricted"]
}

test_impersonation_of_a_disabled_child_is_refused if {
	d := refusal({"runAs": [run_as(object.union(child, {"status": "disabled"}))]}, "/api/v1/bot/list")
	codes(d) == ["impersonation_inactive_target"]
}

# While acting as a child, the child's restrictions apply as well as the key's.
test_impersonated_read_only_child_may_not_write if {
	c := object.union(child, {"restrictions": ["read-only"]})
	d := authz.decision with input as request("/api/v1/bot/create", {"runAs": [run_as(c)]})
	outward(d) == refused
	d.subject == "usr_child"
	d.actor == "usr_parent"
	codes(d) == ["account_read_only"]
}

# ------------------------------------------------------ routes and classes (403)

test_non_canonical_path_is_refused if {
	d := authz.decision with input as request("/api/v1/bot/../token/create", {})
	outward(d) == refused
	d.action == null
	codes(d) == ["path_invalid"]
}

test_path_outside_every_namespace_is_refused if {
	d := authz.decision with input as request("/internal/metrics", {})
	outward(d) == refused
	d.action == null
	codes(d) == ["route_unknown"]
}

test_session_outside_its_allowed_routes_is_refused if {
	s := object.union(session, {"allowedRoutes": ["bot/**", "!bot/*/delete"]})
	d := authz.decision with input as request("/api/v1/bot/bot_1/delete", {"credential": s})
	outward(d) == refused
	codes(d) == ["route_not_allowed"]
}

test_session_may_not_mint_keys if {
	d := authz.decision with input as request("/api/v1/token/create", {"credential": session})
	outward(d) == refused
	codes(d) == ["session_not_permitted"]
}

test_admin_session_may_not_use_the_operator_api if {
	d := authz.decision with input as request("/admin/v1/user/create", {"credential": session, "principal": admin})
	outward(d) == refused
	codes(d) == ["session_not_permitted"]
}

test_user_key_may_not_use_the_operator_api if {
	d := authz.decision with input as request("/admin/v1/user/create", {})
	outward(d) == refused
	codes(d) == ["admin_role_required"]
}

test_admin_acting_as_a_child_may_not_use_the_operator_api if {
	d := authz.decision with input as request("/admin/v1/user/create", {"principal": admin, "runAs": [run_as(child)]})
	outward(d) == refused
	d.subject == "usr_child"
	codes(d) == ["admin_impersonation"]
}

test_suspended_account_may_not_read if {
	d := authz.decision with input as request("/api/v1/bot/list", {"principal": object.union(parent, {"restrictions": ["suspended"]})})
	outward(d) == refused
	d.subject == "usr_parent"
	codes(d) == ["account_suspended"]
}

test_read_scoped_key_may_not_write if {
	d := authz.decision with input as request("/api/v1/bot/create", {"credential": object.union(key, {"scopes": ["read"]})})
	outward(d) == refused
	codes(d) == ["scope_insufficient"]
}

test_key_acting_as_a_child_may_not_manage_the_childs_keys if {
	d := authz.decision with input as request("/api/v1/token/create", {"runAs": [run_as(child)]})
	outward(d) == refused
	d.subject == "usr_child"
	codes(d) == ["impersonation_manage_forbidden"]
}

test_a_run_as_header_named_twice_is_a_bad_request if {
	d := authz.decision with input as request("/api/v1/bot/list", {"runAs": [run_as(child), run_as(child)]})
	d.status == 400
	codes(d) == ["run_as_repeated"]
}

test_another_scheme_than_bearer_is_not_authenticated if {
	d := authz.decision with input as request("/api/v1/bot/list", {"credential": {"type": "other_scheme", "found": false}, "principal": null})
	d.status == 401
	codes(d) == ["credential_not_bearer"]
}
