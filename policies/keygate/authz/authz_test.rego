package keygate.authz_test

import data.keygate.authz

now := 1767225600000

parent := {"id": "usr_parent", "parentId": null, "role": "user", "status": "active", "restrictions": []}

key := {"type": "secret_key", "found": true, "id": "key_1", "expiresAt": null, "revoked": false, "scopes": null, "actorId": null}

request(path, credential) := {
	"version": 2,
	"now": now,
	"request": {"method": "GET", "path": path, "scheme": "https"},
	"credential": credential,
	"principal": parent,
	"actor": null,
	"runAs": [],
}

codes(d) := [r.code | some r in d.reasons]

test_allowed_request if {
	d := authz.decision with input as request("/api/v1/bot/list", key)
	d == {
		"allow": true,
		"status": 200,
		"code": "OK",
		"reasons": [],
		"subject": "usr_parent",
		"actor": null,
		"action": {"resource": "bot", "verb": "list", "class": "read"},
	}
}

test_reasons_carry_messages_and_are_sorted if {
	req := object.union(request("/api/v1/bot/list", object.union(key, {"allowedRoutes": []})), {
		"credential": {"type": "session", "found": true, "expiresAt": null, "revoked": false, "allowedRoutes": [], "actorId": null},
		"principal": object.union(parent, {"restrictions": ["suspended"]}),
	})
	d := authz.decision with input as req
	codes(d) == ["account_suspended", "route_not_allowed"]
	every r in d.reasons {
		count(r.msg) > 0
	}
}

# --- require_https

test_plain_http_refused_when_https_required if {
	req := json.patch(request("/api/v1/bot/list", key), [{"op": "replace", "path": "/request/scheme", "value": "http"}])
	d := authz.decision with input as req with data.keygate.config.require_https as true
	d.status == 403
	codes(d) == ["insecure_transport"]
}

test_https_accepted_when_https_required if {
	d := authz.decision with input as request("/api/v1/bot/list", key) with data.keygate.config.require_https as true
	d.allow
}

test_bad_credential_over_plain_http_is_still_401 if {
	req := json.patch(request("/api/v1/bot/list", {"type": "none", "found": false}), [{"op": "replace", "path": "/request/scheme", "value": "http"}])
	d := authz.decision with input as req with data.keygate.config.require_https as true
	d.status == 401
	codes(d) == ["credential_missing"]
}

# --- missing or malformed facts deny, and the decision is always defined

test_empty_input_is_401 if {
	d := authz.decision with input as {}
	d.status == 401
	d.code == "NOT_AUTHENTICATED"
	d.subject == null
	d.action == null
	"input_invalid" in codes(d)
}

test_version_1_input_is_401 if {
	d := authz.decision with input as object.union(request("/api/v1/bot/list", key), {"version": 1})
	d.status == 401
	codes(d) == ["input_invalid"]
}

test_missing_run_as_is_401 if {
	d := authz.decision with input as object.remove(request("/api/v1/bot/list", key), ["runAs"])
	d.status == 401
	codes(d) == ["input_invalid"]
}

test_missing_revoked_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", object.remove(key, ["revoked"]))
	d.status == 401
	codes(d) == ["credential_incomplete"]
}

test_missing_actor_id_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", object.remove(key, ["actorId"]))
	d.status == 401
	codes(d) == ["credential_incomplete"]
}

test_non_numeric_expiry_is_401 if {
	d := authz.decision with input as request("/api/v1/bot/list", object.union(key, {"expiresAt": "2999-01-01"}))
	d.status == 401
	codes(d) == ["credential_incomplete"]
}

test_principal_without_restrictions_is_401 if {
	req := json.patch(request("/api/v1/bot/list", key), [{"op": "remove", "path": "/principal/restrictions"}])
	d := authz.decision with input as req
	d.status == 401
	codes(d) == ["principal_inactive"]
}

test_missing_scopes_deny if {
	d := authz.decision with input as request("/api/v1/bot/list", object.remove(key, ["scopes"]))
	d.status == 403
	codes(d) == ["scope_insufficient"]
}

test_missing_allowed_routes_deny if {
	session := {"type": "session", "found": true, "expiresAt": null, "revoked": false, "actorId": null}
	d := authz.decision with input as request("/api/v1/bot/list", session)
	d.status == 403
	codes(d) == ["route_not_allowed"]
}

test_run_as_target_without_restrictions_is_refused if {
	child := {"id": "usr_child", "parentId": "usr_parent", "role": "user", "status": "active"}
	req := object.union(request("/api/v1/bot/list", key), {"runAs": [{"via": "user_id", "wellFormed": true, "account": child}]})
	d := authz.decision with input as req
	d.status == 403
	d.subject == "usr_parent"
	d.actor == null
	codes(d) == ["impersonation_inactive_target"]
}

# --- a denial always carries a reason, even one no specific rule explains

test_unexplained_401_still_has_a_reason if {
	d := authz.decision with input as request("/api/v1/bot/list", {"type": "none", "found": false})
		with authz.authn_reasons as set()
	d.status == 401
	codes(d) == ["not_authenticated"]
}

test_unexplained_403_still_has_a_reason if {
	d := authz.decision with input as request("/api/v1//list", key) with authz.denials as set()
	d.status == 403
	codes(d) == ["not_authorized"]
}

test_unexplained_impersonation_refusal_still_has_a_reason if {
	req := object.union(request("/api/v1/bot/list", key), {"runAs": [{"via": "user_id", "wellFormed": true, "account": null}]})
	d := authz.decision with input as req with authz.impersonation_reasons as set()
	d.status == 403
	codes(d) == ["impersonation_refused"]
}

test_admin_path_with_principal_lacking_role_is_refused if {
	admin_key_input := json.patch(request("/admin/v1/user/create", key), [{"op": "remove", "path": "/principal/role"}])
	d := authz.decision with input as admin_key_input
	d.status == 403
	codes(d) == ["admin_role_required"]
}

test_missing_scheme_is_refused_when_https_required if {
	req := json.patch(request("/api/v1/bot/list", key), [{"op": "remove", "path": "/request/scheme"}])
	d := authz.decision with input as req with data.keygate.config.require_https as true
	codes(d) == ["insecure_transport"]
}

# Data tables missing or misspelt must take rights away, not grant them.
test_missing_restriction_classes_deny if {
	req := json.patch(request("/api/v1/bot/list", key), [{"op": "replace", "path": "/principal/restrictions", "value": ["read-only"]}])
	d := authz.decision with input as req with data.keygate.restrictions as {"read-only": {"reason": "account_read_only"}}
	codes(d) == ["account_read_only"]
}

test_missing_impersonation_table_refuses_managing_as_child if {
	child := {"id": "usr_child", "parentId": "usr_parent", "role": "user", "status": "active", "restrictions": []}
	req := json.patch(request("/api/v1/session/create", key), [{"op": "replace", "path": "/runAs", "value": [{"via": "email", "wellFormed": true, "account": child}]}])
	authz.decision.allow with input as req
	d := authz.decision with input as req with data.keygate.impersonation as {}
	codes(d) == ["impersonation_manage_forbidden"]
}

test_restriction_table_names_the_documented_flags if {
	data.keygate.restrictions.suspended.classes == []
	data.keygate.restrictions["read-only"].classes == ["read"]
}

# --- method classes (issue 11 §2)

with_method(req, method) := json.patch(req, [{"op": "replace", "path": "/request/method", "value": method}])

read_only_parent := object.union(parent, {"restrictions": ["read-only"]})

test_write_methods_on_a_read_path_are_writes if {
	every m in ["DELETE", "PUT", "PATCH", "FROBNICATE"] {
		req := object.union(with_method(request("/api/v1/bot/list", key), m), {"principal": read_only_parent})
		d := authz.decision with input as req
		d.status == 403
		d.action.class == "write"
		codes(d) == ["account_read_only"]
	}
}

test_read_methods_keep_the_read_class if {
	every m in ["GET", "HEAD", "OPTIONS", "POST"] {
		req := object.union(with_method(request("/api/v1/bot/list", key), m), {"principal": read_only_parent})
		d := authz.decision with input as req
		d.allow
	}
}

# --- malformed requests (issue 11 §5)

malformed_run_as := [{"via": "user_id", "wellFormed": false, "account": null}]

test_malformed_run_as_is_400_with_no_identity if {
	d := authz.decision with input as object.union(request("/api/v1/bot/list", key), {"runAs": malformed_run_as})
	d == {
		"allow": false,
		"status": 400,
		"code": "INVALID_REQUEST",
		"reasons": [{"code": "run_as_malformed", "msg": "an X-RunAs header is empty, repeated or outside its grammar"}],
		"subject": null,
		"actor": null,
		"action": {"resource": "bot", "verb": "list", "class": "read"},
	}
}

test_400_comes_before_401_and_403 if {
	unknown := object.union(request("/api/v1/bot/list", {"type": "secret_key", "found": false}), {"principal": null, "runAs": malformed_run_as})
	d1 := authz.decision with input as unknown
	d1.status == 400
	traversal := object.union(request("/api/v1/../token/create", key), {"runAs": malformed_run_as})
	d2 := authz.decision with input as traversal
	d2.status == 400
}

test_query_access_token_with_a_header_is_400 if {
	req := json.patch(request("/api/v1/bot/list", key), [{"op": "add", "path": "/request/queryAccessToken", "value": true}])
	d := authz.decision with input as req
	d.status == 400
	codes(d) == ["credential_two_methods"]
}

# Token introspection (POST /oauth2/introspect) authorizes its caller as this
# admin action: only a full-access key of an admin account, not impersonating.
introspect(credential, principal) := object.union(request("/admin/v1/token/introspect", credential), {
	"request": {"method": "POST", "path": "/admin/v1/token/introspect", "scheme": "https"},
	"principal": principal,
})

admin := object.union(parent, {"id": "usr_admin", "role": "admin"})

test_introspection_allowed_for_an_admin_key if {
	d := authz.decision with input as introspect(key, admin)
	d.allow
	d.action == {"resource": "token", "verb": "introspect", "class": "admin"}
}

test_introspection_refused_to_a_user_key if {
	d := authz.decision with input as introspect(key, parent)
	d.status == 403
	codes(d) == ["admin_role_required"]
}

test_introspection_refused_to_a_scoped_admin_key if {
	d := authz.decision with input as introspect(object.union(key, {"scopes": ["read", "manage"]}), admin)
	d.status == 403
	codes(d) == ["scope_insufficient"]
}

test_introspection_refused_to_an_admin_session if {
	session := {"type": "session", "found": true, "id": "ses_1", "expiresAt": null, "revoked": false, "allowedRoutes": null, "actorId": null}
	d := authz.decision with input as introspect(session, admin)
	d.status == 403
	"session_not_permitted" in codes(d)
}

test_introspection_refused_while_impersonating if {
	child := {"id": "usr_child", "parentId": "usr_admin", "role": "user", "status": "active", "restrictions": []}
	d := authz.decision with input as object.union(introspect(key, admin), {"runAs": [{"via": "user_id", "wellFormed": true, "account": child}]})
	d.status == 403
	"admin_impersonation" in codes(d)
}
