package keygate.authz_test

import data.keygate.authz

limit(scope, id, kind, max, used) := {
	"name": concat(":", [scope, kind]), "scope": scope, "id": id, "kind": kind,
	"limit": max, "windowSeconds": 1, "used": used, "resetSeconds": 1,
}

limited(limits) := object.union(request("/api/v1/bot/list", key), {"limits": limits})

test_under_every_limit_allowed if {
	d := authz.decision with input as limited([limit("key", "key_1", "rate", 10, 9), limit("account", "usr_parent", "quota", 100, 0)])
	d.allow
	d.status == 200
}

test_a_used_up_limit_is_429 if {
	d := authz.decision with input as limited([limit("key", "key_1", "rate", 10, 10), limit("account", "usr_parent", "quota", 100, 100)])
	not d.allow
	d.status == 429
	d.code == "RATE_LIMITED"
	d.subject == "usr_parent"
	codes(d) == ["limit_account_quota", "limit_key_rate"]
}

test_exempt_ids_are_not_limited if {
	d := authz.decision with input as limited([limit("key", "key_1", "rate", 10, 10)]) with data.keygate.limits.exempt as ["key_1"]
	d.allow
}

test_a_refused_request_stays_403_under_a_used_up_limit if {
	req := object.union(limited([limit("key", "key_1", "rate", 0, 0)]), {"principal": object.union(parent, {"restrictions": ["suspended"]})})
	d := authz.decision with input as req
	d.status == 403
	codes(d) == ["account_suspended"]
}

test_an_unknown_credential_stays_401_under_a_used_up_limit if {
	d := authz.decision with input as object.union(limited([limit("key", "key_1", "rate", 0, 0)]), {"credential": {"type": "secret_key", "found": false}})
	d.status == 401
}
