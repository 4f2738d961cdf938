package keygate.lib.scopes_test

import data.keygate.lib.scopes

read_bot := {"resource": "bot", "verb": "fetch", "class": "read"}

write_bot := {"resource": "bot", "verb": "create", "class": "write"}

manage_token := {"resource": "token", "verb": "create", "class": "manage"}

admin_user := {"resource": "user", "verb": "create", "class": "admin"}

test_null_is_full_access if {
	every a in [read_bot, write_bot, manage_token, admin_user] {
		scopes.grants(null, a)
	}
}

test_star_is_full_access if {
	every a in [read_bot, write_bot, manage_token, admin_user] {
		scopes.grants(["*"], a)
	}
}

test_class_scopes if {
	scopes.grants(["read"], read_bot)
	not scopes.grants(["read"], write_bot)
	scopes.grants(["write"], read_bot)
	scopes.grants(["write"], write_bot)
	not scopes.grants(["write"], manage_token)
	scopes.grants(["manage"], manage_token)
	not scopes.grants(["manage"], read_bot)
}

test_resource_scopes if {
	scopes.grants(["bot:read"], read_bot)
	not scopes.grants(["bot:read"], write_bot)
	scopes.grants(["bot:write"], read_bot)
	scopes.grants(["bot:*"], write_bot)
	not scopes.grants(["dataset:*"], read_bot)
	scopes.grants(["token:manage"], manage_token)
	scopes.grants(["dataset:read", "bot:write"], write_bot)
}

test_admin_needs_full_access if {
	not scopes.grants(["manage"], admin_user)
	not scopes.grants(["user:*"], admin_user)
	not scopes.grants(["user:admin"], admin_user)
	not scopes.grants(["admin"], admin_user)
}

test_no_scope_grants_nothing if {
	not scopes.grants([], read_bot)
	not scopes.grants(["bots:read", "bot:reed", ""], read_bot)
}
