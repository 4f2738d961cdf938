# Console sessions: a credential of their own kind, decided as the secret key
# that opened them (its scopes, its account, its restrictions), never more.
package keygate.authz_test

import data.keygate.authz

console_session := object.union(key, {"type": "console_session"})

console_routes := [
	"/api/v1/token/list",
	"/api/v1/partner/user/usr_child/token/key_1/roll",
	"/api/v1/session/list",
]

test_a_console_session_manages_as_its_key if {
	every path in console_routes {
		d := authz.decision with input as request(path, console_session)
		d.allow
		d.action.class == "manage"
	}
}

test_a_console_session_is_held_to_its_keys_scopes if {
	scoped := object.union(console_session, {"scopes": ["bot:read"]})
	d := authz.decision with input as request("/api/v1/token/list", scoped)
	d.status == 403
	codes(d) == ["scope_insufficient"]
}

test_an_unknown_console_session_is_401 if {
	d := authz.decision with input as request("/api/v1/token/list", {"type": "console_session", "found": false})
	d.status == 401
	codes(d) == ["credential_unknown"]
}

test_an_expired_or_revoked_console_session_is_401 if {
	expired := object.union(console_session, {"expiresAt": now})
	codes(authz.decision) == ["credential_expired"] with input as request("/api/v1/token/list", expired)
	revoked := object.union(console_session, {"revoked": true})
	codes(authz.decision) == ["credential_revoked"] with input as request("/api/v1/token/list", revoked)
}

test_a_console_session_may_act_as_a_child if {
	i := json.patch(request("/api/v1/bot/list", console_session), [{"op": "replace", "path": "/runAs", "value": [{"via": "user_id", "wellFormed": true, "account": child}]}])
	d := authz.decision with input as i
	d.allow
	d.subject == "usr_child"
	d.actor == "usr_parent"
}

test_an_admin_console_session_may_use_operator_routes if {
	i := json.patch(request("/admin/v1/audit/list", console_session), [{"op": "replace", "path": "/principal/role", "value": "admin"}])
	authz.decision.allow with input as i
	codes(authz.decision) == ["admin_role_required"] with input as request("/admin/v1/audit/list", console_session)
}
