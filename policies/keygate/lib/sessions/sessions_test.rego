package keygate.lib.sessions_test

import data.keygate.lib.sessions

test_null_allows_everything if {
	sessions.route_allowed(null, "bot/b1/delete")
}

test_empty_list_allows_nothing if {
	not sessions.route_allowed([], "bot/list")
}

test_globs if {
	sessions.route_allowed(["bot/**"], "bot/b1/fetch")
	not sessions.route_allowed(["bot/**"], "dataset/list")
	sessions.route_allowed(["bot/*/fetch"], "bot/b1/fetch")
	not sessions.route_allowed(["bot/*"], "bot/b1/fetch")
	sessions.route_allowed(["dataset/list", "bot/list"], "bot/list")
}

test_negations if {
	not sessions.route_allowed(["bot/**", "!bot/*/delete"], "bot/b1/delete")
	sessions.route_allowed(["bot/**", "!bot/*/delete"], "bot/b1/update")
	sessions.route_allowed(["!bot/*/delete"], "dataset/list")
	not sessions.route_allowed(["!bot/*/delete"], "bot/b1/delete")
	not sessions.route_allowed(["!**"], "bot/list")
}

test_prefixes_are_stripped if {
	sessions.strip("/api/v1/bot/**") == "bot/**"
	sessions.strip("/v1/bot/**") == "bot/**"
	sessions.strip("/bot/**") == "bot/**"
	sessions.strip("bot/**") == "bot/**"
	sessions.route_allowed(["/api/v1/bot/list"], "bot/list")
	not sessions.route_allowed(["!/v1/bot/list"], "bot/list")
}

test_malformed_lists_fail_closed if {
	not sessions.route_allowed([1], "bot/list")
	not sessions.route_allowed("bot/**", "bot/list")
	not sessions.route_allowed(["!bot/[", "**"], "bot/list")
}

test_negatives_ignore_case_positives_do_not if {
	not sessions.route_allowed(["bot/**", "!bot/*/delete"], "bot/b1/DELETE")
	not sessions.route_allowed(["bot/**", "!BOT/*/delete"], "bot/b1/delete")
	sessions.route_allowed(["bot/AbC/**"], "bot/AbC/fetch")
	not sessions.route_allowed(["bot/AbC/**"], "bot/abc/fetch")
}
