# Credentials a parent minted for its child (credential.actorId), and the
# impersonation restriction on every way of acting as a child. Helpers
# (request, key, parent, codes) are in authz_test.rego.
package keygate.authz_test

import data.keygate.authz

child := {"id": "usr_child", "parentId": "usr_parent", "role": "user", "status": "active", "restrictions": []}

minted_key := object.union(key, {"id": "key_minted", "actorId": "usr_parent"})

minted_session := {"type": "session", "found": true, "id": "ses_1", "expiresAt": null, "revoked": false, "allowedRoutes": null, "actorId": "usr_parent"}

# A request made with a credential that parent (as given) minted for child.
as_child(path, credential, actor) := object.union(request(path, credential), {"principal": child, "actor": actor})

with_restrictions(account, restrictions) := object.union(account, {"restrictions": restrictions})

test_minted_key_acts_as_the_child_and_names_the_parent if {
	d := authz.decision with input as as_child("/api/v1/bot/create", minted_key, parent)
	d.allow
	d.subject == "usr_child"
	d.actor == "usr_parent"
}

test_minted_session_acts_as_the_child_and_names_the_parent if {
	d := authz.decision with input as as_child("/api/v1/bot/list", minted_session, parent)
	d.allow
	d.subject == "usr_child"
	d.actor == "usr_parent"
}

test_own_key_of_a_child_names_no_actor if {
	d := authz.decision with input as as_child("/api/v1/bot/create", key, with_restrictions(parent, ["impersonation"]))
	d.allow
	d.subject == "usr_child"
	d.actor == null
}

test_minted_key_refused_once_the_parent_is_restricted_from_impersonation if {
	d := authz.decision with input as as_child("/api/v1/bot/create", minted_key, with_restrictions(parent, ["impersonation"]))
	d.status == 403
	d.subject == "usr_child"
	d.actor == "usr_parent"
	codes(d) == ["impersonation_restricted"]
}

test_minted_session_refused_once_the_parent_is_restricted_from_impersonation if {
	d := authz.decision with input as as_child("/api/v1/bot/list", minted_session, with_restrictions(parent, ["impersonation"]))
	d.status == 403
	codes(d) == ["impersonation_restricted"]
}

test_minted_key_is_401_once_the_parent_is_disabled_or_deleted if {
	every status in ["disabled", "deleted"] {
		d := authz.decision with input as as_child("/api/v1/bot/list", minted_key, object.union(parent, {"status": status}))
		d.status == 401
		d.subject == null
		d.actor == null
		codes(d) == ["actor_inactive"]
	}
}

test_minted_key_is_401_when_the_parent_account_is_gone if {
	d := authz.decision with input as as_child("/api/v1/bot/list", minted_key, null)
	d.status == 401
	codes(d) == ["actor_inactive"]
}

test_minted_key_is_401_when_the_actor_facts_name_another_account if {
	d := authz.decision with input as as_child("/api/v1/bot/list", minted_key, object.union(parent, {"id": "usr_other"}))
	d.status == 401
	codes(d) == ["actor_inactive"]
}

test_minted_key_is_401_when_the_actor_facts_are_absent if {
	d := authz.decision with input as object.remove(as_child("/api/v1/bot/list", minted_key, parent), ["actor"])
	d.status == 401
	codes(d) == ["actor_inactive"]
}

test_minted_key_is_401_once_the_parent_is_no_longer_the_parent if {
	req := json.patch(as_child("/api/v1/bot/list", minted_key, parent), [{"op": "replace", "path": "/principal/parentId", "value": "usr_other"}])
	d := authz.decision with input as req
	d.status == 401
	codes(d) == ["actor_not_parent"]
}

test_actor_id_of_another_type_is_401 if {
	d := authz.decision with input as as_child("/api/v1/bot/list", object.union(key, {"actorId": 7}), parent)
	d.status == 401
	codes(d) == ["credential_incomplete"]
}

test_parent_restrictions_apply_to_its_minted_credentials if {
	read_only := authz.decision with input as as_child("/api/v1/bot/create", minted_key, with_restrictions(parent, ["read-only"]))
	codes(read_only) == ["account_read_only"]
	authz.decision.allow with input as as_child("/api/v1/bot/list", minted_key, with_restrictions(parent, ["read-only"]))
	suspended := authz.decision with input as as_child("/api/v1/bot/list", minted_session, with_restrictions(parent, ["suspended"]))
	codes(suspended) == ["account_suspended"]
}

test_minted_key_cannot_impersonate if {
	grandchild := {"id": "usr_grandchild", "parentId": "usr_child", "role": "user", "status": "active", "restrictions": []}
	req := object.union(as_child("/api/v1/bot/list", minted_key, parent), {"runAs": [{"via": "user_id", "wellFormed": true, "account": grandchild}]})
	d := authz.decision with input as req
	d.status == 403
	d.subject == "usr_child"
	codes(d) == ["impersonation_delegated"]
}

# As with X-RunAs-*: sessions may be managed as the child, keys and sub-accounts not.
test_minted_key_manages_sessions_not_keys_or_children if {
	authz.decision.allow with input as as_child("/api/v1/session/create", minted_key, parent)
	every path in ["/api/v1/token/create", "/api/v1/partner/user/create", "/api/v1/partner/user/usr_grandchild/token/create"] {
		d := authz.decision with input as as_child(path, minted_key, parent)
		codes(d) == ["impersonation_manage_forbidden"]
	}
}

test_minted_key_of_an_admin_child_cannot_act_as_admin if {
	req := json.patch(as_child("/admin/v1/user/create", minted_key, parent), [{"op": "replace", "path": "/principal/role", "value": "admin"}])
	d := authz.decision with input as req
	codes(d) == ["admin_impersonation"]
}

child_credential_paths := [
	"/api/v1/partner/user/usr_child/token/create",
	"/api/v1/partner/user/usr_child/session/create",
	"/v1/partner/user/usr_child/token/create",
	"/api/v1/Partner/User/usr_child/Session/CREATE",
]

test_restricted_parent_cannot_mint_credentials_for_a_child if {
	every path in child_credential_paths {
		req := object.union(request(path, key), {"principal": with_restrictions(parent, ["impersonation"])})
		d := authz.decision with input as req
		d.status == 403
		d.subject == "usr_parent"
		codes(d) == ["impersonation_restricted"]
	}
}

test_unrestricted_parent_mints_credentials_for_a_child if {
	every path in child_credential_paths {
		authz.decision.allow with input as request(path, key)
	}
}

test_restricted_parent_still_manages_its_children if {
	restricted := {"principal": with_restrictions(parent, ["impersonation"])}
	every path in ["/api/v1/partner/user/create", "/api/v1/partner/user/usr_child/update", "/api/v1/partner/user/usr_child/delete", "/api/v1/token/create"] {
		authz.decision.allow with input as object.union(request(path, key), restricted)
	}
}

test_missing_child_credential_table_refuses_every_partner_action_of_a_restricted_parent if {
	restricted := {"principal": with_restrictions(parent, ["impersonation"])}
	every path in ["/api/v1/partner/user/usr_child/token/create", "/api/v1/partner/user/create"] {
		d := authz.decision with input as object.union(request(path, key), restricted)
			with data.keygate.impersonation as {"manage_resources": ["session"]}
		codes(d) == ["impersonation_restricted"]
	}
	authz.decision.allow with input as object.union(request("/api/v1/bot/list", key), restricted)
		with data.keygate.impersonation as {"manage_resources": ["session"]}
}
