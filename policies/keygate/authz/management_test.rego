# The management API's routes (keys, sessions, sub-accounts) and the
# operator's: which class each is, and who may use it.
package keygate.authz_test

import data.keygate.authz

child := {"id": "usr_child", "parentId": "usr_parent", "role": "user", "status": "active", "restrictions": []}

partner_routes := [
	"/api/v1/partner/user/usr_child/token/list",
	"/api/v1/partner/user/usr_child/token/key_1/update",
	"/api/v1/partner/user/usr_child/token/key_1/delete",
	"/api/v1/partner/user/usr_child/token/key_1/roll",
	"/api/v1/partner/user/usr_child/session/list",
	"/api/v1/partner/user/usr_child/session/ses_1/delete",
]

own_routes := [
	"/api/v1/token/key_1/update",
	"/api/v1/session/list",
]

operator_routes := [
	"/admin/v1/user/usr_child/token/list",
	"/admin/v1/user/usr_child/token/key_1/delete",
	"/admin/v1/user/usr_child/token/key_1/roll",
]

run_as_child(path, credential) := json.patch(request(path, credential), [{"op": "replace", "path": "/runAs", "value": [{"via": "user_id", "wellFormed": true, "account": child}]}])

session := {"type": "session", "found": true, "id": "ses_1", "expiresAt": null, "revoked": false, "allowedRoutes": null, "actorId": null}

test_management_routes_are_management if {
	every path in array.concat(partner_routes, own_routes) {
		d := authz.decision with input as request(path, key)
		d.allow
		d.action.class == "manage"
	}
	every path in partner_routes {
		d := authz.decision with input as request(path, key)
		d.action.resource == "partner"
	}
}

test_operator_routes_need_an_admin_account if {
	every path in operator_routes {
		d := authz.decision with input as request(path, key)
		d.action.class == "admin"
		codes(d) == ["admin_role_required"]
	}
	every path in operator_routes {
		admin := json.patch(request(path, key), [{"op": "replace", "path": "/principal/role", "value": "admin"}])
		authz.decision.allow with input as admin
	}
}

test_a_session_token_manages_nothing if {
	every path in array.concat(partner_routes, own_routes) {
		d := authz.decision with input as request(path, session)
		d.status == 403
		"session_not_permitted" in codes(d)
	}
}

test_a_childs_keys_are_managed_as_the_parent_not_while_acting_as_the_child if {
	every path in partner_routes {
		d := authz.decision with input as run_as_child(path, key)
		codes(d) == ["impersonation_manage_forbidden"]
	}
	d := authz.decision with input as run_as_child("/api/v1/token/key_1/update", key)
	codes(d) == ["impersonation_manage_forbidden"]
}

test_the_child_s_sessions_may_be_listed_while_acting_as_it if {
	d := authz.decision with input as run_as_child("/api/v1/session/list", key)
	d.allow
	d.subject == "usr_child"
	d.actor == "usr_parent"
}

test_management_needs_the_manage_scope if {
	every path in partner_routes {
		read := authz.decision with input as request(path, object.union(key, {"scopes": ["read", "write"]}))
		codes(read) == ["scope_insufficient"]
		manage := authz.decision with input as request(path, object.union(key, {"scopes": ["manage"]}))
		manage.allow
	}
}
