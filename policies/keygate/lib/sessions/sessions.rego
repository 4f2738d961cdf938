# METADATA
# title: Session routes
# description: |
#   allowedRoutes on a session token: globs over the path after /api/v1/ or
#   /v1/ ("*" one segment, "**" any number); "!" negates. null allows every
#   route, [] none; a list of negatives only allows everything else.
#   Negatives match case-insensitively and positives exactly, so case never
#   widens what a session may do.
package keygate.lib.sessions

# METADATA
# description: True if a session with these allowedRoutes may call the route (path after the namespace prefix).
route_allowed(patterns, _) if patterns == null

route_allowed(patterns, rest) if {
	count(patterns) > 0
	every p in patterns {
		is_string(p)
	}
	negatives := [strip(substring(p, 1, -1)) | some p in patterns; startswith(p, "!")]
	positives := [strip(p) | some p in patterns; not startswith(p, "!")]

	lowered := lower(rest)

	# == false, not `not`: a glob that fails to evaluate must not count as a non-match.
	every n in negatives {
		glob.match(lower(n), ["/"], lowered) == false
	}
	any_match(positives, rest)
}

any_match(positives, _) if count(positives) == 0

any_match(positives, rest) if {
	some p in positives
	glob.match(p, ["/"], rest)
}

# An entry may be written with a leading namespace prefix or a bare "/".
strip(p) := substring(p, count(prefix), -1) if {
	some prefix, "api" in data.keygate.routes.namespaces
	startswith(p, prefix)
} else := substring(p, 1, -1) if {
	startswith(p, "/")
} else := p
