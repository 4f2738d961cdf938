package keygate.authz_test

import data.keygate.authz

limit(scope, id, kind, max, exhausted) := {
	"name": concat(":", [scope, kind]), "scope": scope, "id": id, "kind": kind,
	"limit": max, "windowSeconds": 1, "exhausted": exhausted, "resetAt": 1000,
}

limited(limits) := object.union(request("/api/v1/bot/list", key), {"limits": limits})

test_under_every_limit_allowed if {
	d := authz.decision with input as limited([limit("key", "key_1", "rate", 10, false), limit("account", "usr_parent", "quota", 100, false)])
	d.allow
	d.status == 200
}

test_a_used_up_limit_is_429 if {
	d := authz.decision with input as limited([limit("key", "key_1", "rate", 10, true), limit("account", "usr_parent", "quota", 100, true)])
	not d.allow
	d.status == 429
	d.code == "RATE_LIMITED"
	d.subject == "usr_parent"
	codes(d) == ["limit_account_quota", "limit_key_rate"]
}

test_exempt_ids_are_not_limited if {
	d := authz.decision with input as limited([limit("key", "key_1", "rate", 10, true)]) with data.keygate.limits.exempt as ["key_1"]
	d.allow
}

test_a_refused_request_stays_403_under_a_used_up_limit if {
	req := object.union(limited([limit("key", "key_1", "rate", 0, true)]), {"principal": object.union(parent, {"restrictions": ["suspended"]})})
	d := authz.decision with input as req
	d.status == 403
	codes(d) == ["account_suspended"]
}

test_an_unknown_credential_stays_401_under_a_used_up_limit if {
	d := authz.decision with input as object.union(limited([limit("key", "key_1", "rate", 0, true)]), {"credential": {"type": "secret_key", "found": false}})
	d.status == 401
}

test_one_used_up_limit_of_two_is_429 if {
	d := authz.decision with input as limited([limit("key", "key_1", "rate", 10, false), limit("account", "usr_parent", "quota", 100, true)])
	d.status == 429
	codes(d) == ["limit_account_quota"]
}
