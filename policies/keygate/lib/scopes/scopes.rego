# METADATA
# title: Key scopes
# description: |
#   Scope grammar: "*", a class ("read", "write", "manage"), or
#   "<resource>:<class>" / "<resource>:*". Which scopes satisfy which class is
#   data (data.keygate.scopes.satisfied_by): write implies read, manage stands
#   alone. Admin actions need full access: null scopes or "*".
package keygate.lib.scopes

# METADATA
# description: True if a key with these scopes (null = full access) may perform the action.
grants(scopes, _) if scopes == null

grants(scopes, action) if {
	action.class == "admin"
	"*" in scopes
}

grants(scopes, action) if {
	action.class != "admin"
	some s in scopes
	grants_one(s, action)
}

grants_one("*", _)

grants_one(s, action) if s == concat(":", [action.resource, "*"])

grants_one(s, action) if {
	some c in data.keygate.scopes.satisfied_by[action.class]
	s in {c, concat(":", [action.resource, c])}
}
