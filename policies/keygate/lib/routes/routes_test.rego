package keygate.lib.routes_test

import data.keygate.lib.routes

test_invalid_paths if {
	every p in [
		"api/v1/bot/list",
		"/api/v1/bot//list",
		"/api/v1/bot/list/",
		"/api/v1/bot/../token/create",
		"/api/v1/bot/..",
		"/api/v1/./bot/list",
		"/api/v1/bot/%2E%2E/list",
		"/api/v1/bot/a%2fb/list",
		"/api/v1/bot/a%5Cb/list",
		"/api/v1/bot/list%00",
		"/api/v1/bot/%252e/list",
		"/api/v1/bot\\list",
		"/api/v1/bot/x;y/list",
	] {
		routes.invalid(p)
	}
}

test_valid_paths if {
	every p in [
		"/api/v1/bot/list",
		"/api/v1/space/s1/storage/download/docs/.env",
		"/api/v1/space/s1/storage/download/my%20file.txt",
		"/api/v1/space/s1/storage/download/a..b",
		"/unknown/namespace",
	] {
		not routes.invalid(p)
	}
}

test_parse_namespaces if {
	routes.parse("/api/v1/bot/list") == {"namespace": "api", "rest": "bot/list", "segments": ["bot", "list"]}
	routes.parse("/v1/bot/list") == {"namespace": "api", "rest": "bot/list", "segments": ["bot", "list"]}
	routes.parse("/admin/v1/user/create").namespace == "admin"
	not routes.parse("/api/v2/bot/list")
	not routes.parse("/api/v1")
}

class_of(path) := method_class_of("POST", path)

method_class_of(method, path) := routes.action(routes.parse(path), method).class

test_classes_of_real_routes if {
	class_of("/api/v1/bot/list") == "read"
	class_of("/api/v1/bot/b1/memory/search") == "read"
	class_of("/api/v1/contact/export") == "read"
	class_of("/api/v1/file/f1/download") == "read"
	class_of("/api/v1/event/log/subscribe") == "read"
	class_of("/api/v1/bot/b1/delete") == "write"
	class_of("/api/v1/dataset/d1/file/f1/sync") == "write"
	class_of("/api/v1/integration/slack/s1/setup") == "write"
	class_of("/api/v1/graphql") == "write"
	class_of("/api/v1/partner/user/u1/fetch") == "manage"
	class_of("/api/v1/token/list") == "manage"
	class_of("/api/v1/session/create") == "manage"
	class_of("/api/v1/bot/b1/session/create") == "write"
	class_of("/admin/v1/user/u1/fetch") == "admin"
}

test_kind_after_a_typed_resource_is_not_a_verb if {
	class_of("/api/v1/integration/trigger/list") == "read"
	class_of("/api/v1/integration/trigger/t1/fetch") == "read"
	class_of("/api/v1/integration/trigger/t1/invoke") == "write"
	routes.verb(["integration", "trigger", "list"]) == "list"
	class_of("/api/v1/bot/trigger/list") == "write"
}

test_words_are_matched_case_insensitively if {
	class_of("/api/v1/bot/list/DELETE") == "write"
	class_of("/api/v1/TOKEN/create") == "manage"
	class_of("/api/v1/GraphQL") == "write"
	class_of("/api/v1/bot/b1/Fetch") == "read"
	routes.parse("/api/v1/Bot/AbC/fetch").rest == "Bot/AbC/fetch"
}

test_class_is_fail_safe if {
	class_of("/api/v1/bot/update/fetch") == "write"
	class_of("/api/v1/space/s1/storage/list/a/delete") == "write"
	class_of("/api/v1/space/s1/storage/list/a/b") == "read"
	class_of("/api/v1/bot/b1/frobnicate") == "write"
}

test_a_verb_the_tables_do_not_know_is_a_write if {
	class_of("/api/v1/bot/fetch/frobnicate") == "write"
	class_of("/api/v1/bot/list/b1") == "write"
	class_of("/api/v1/space/s1/storage/frobnicate/a/list") == "write"
	class_of("/api/v1/space/s1/storage") == "write"
	method_class_of("GET", "/api/v1/bot/fetch/frobnicate") == "write"
}

test_write_methods_make_a_write_whatever_the_path if {
	every m in ["DELETE", "PUT", "PATCH", "PROPFIND", "TRACE", "CONNECT", "get", ""] {
		method_class_of(m, "/api/v1/bot/list") == "write"
		method_class_of(m, "/api/v1/space/s1/storage/download/a.md") == "write"
	}
}

test_path_class_methods_take_the_path_class if {
	every m in ["GET", "HEAD", "OPTIONS", "POST"] {
		method_class_of(m, "/api/v1/bot/list") == "read"
		method_class_of(m, "/api/v1/bot/b1/delete") == "write"
	}
}

test_a_method_never_lowers_the_path_class if {
	every m in ["GET", "DELETE", "PUT", "FROB"] {
		method_class_of(m, "/api/v1/token/list") == "manage"
		method_class_of(m, "/admin/v1/user/u1/fetch") == "admin"
	}
}

test_verb_is_after_the_path_tail_resource_else_the_last_segment if {
	routes.verb(["space", "s1", "storage", "download", "docs", "a.md"]) == "download"
	routes.verb(["space", "s1", "storage", "list", "storage", "a.md"]) == "list"
	routes.verb(["space", "s1", "storage"]) == "storage"
	routes.verb(["bot", "list", "b1", "fetch"]) == "fetch"
	routes.verb(["bot", "fetch", "frobnicate"]) == "frobnicate"
	routes.verb(["openai", "chat", "completions"]) == "completions"
	routes.action(routes.parse("/api/v1/bot/b1/memory/search"), "GET") == {"resource": "bot", "verb": "search", "class": "read"}
}

# Policy data sanity: a typo here would otherwise surface as a 503 (bad class) or a conflict.
test_data_tables_are_well_formed if {
	every _, c in data.keygate.routes.verbs {
		c in {"read", "write"}
	}
	every m in data.keygate.routes.path_class_methods {
		m == upper(m)
	}
	every _, c in data.keygate.routes.exact {
		c in {"read", "write", "manage"}
	}
	every p, kind in data.keygate.routes.namespaces {
		startswith(p, "/")
		endswith(p, "/")
		kind in {"api", "admin"}
	}
	every a, _ in data.keygate.routes.namespaces {
		every b, _ in data.keygate.routes.namespaces {
			not overlaps(a, b)
		}
	}
}

overlaps(a, b) if {
	a != b
	startswith(b, a)
}
