# METADATA
# title: Routes
# description: |
#   Turns a request path into an action {resource, verb, class}. The verb in
#   the path decides read or write, not the HTTP method. Tables live in
#   data.keygate.routes.
package keygate.lib.routes

tables := data.keygate.routes

# METADATA
# description: |
#   True for a path a proxy or upstream might normalise into a different
#   route than the one classified here (traversal, encoded separators, empty
#   segments), so it is refused before any classification.
invalid(path) if not startswith(path, "/")

invalid(path) if contains(path, "//")

invalid(path) if endswith(path, "/")

invalid(path) if {
	some s in tables.forbidden_substrings
	contains(path, s)
}

# The guards ("%", "/.") keep the common, clean path cheap.
invalid(path) if {
	contains(path, "%")
	lowered := lower(path)
	some s in tables.forbidden_encodings
	contains(lowered, s)
}

invalid(path) if {
	contains(path, "/.")
	some seg in split(path, "/")
	seg in {".", ".."}
}

# METADATA
# description: |
#   {namespace, rest, segments} for a path under a known namespace; rest is
#   the path after the namespace prefix, segments its lower-cased parts
#   (matched case-insensitively, so a case-insensitive upstream cannot hide
#   a write verb or a management resource). Undefined otherwise. Call it
#   only for a path that is not invalid.
parse(path) := {"namespace": kind, "rest": rest, "segments": split(lower(rest), "/")} if {
	some prefix, kind in tables.namespaces
	startswith(path, prefix)
	rest := substring(path, count(prefix), -1)
}

# METADATA
# description: |
#   Fail-safe: one write verb anywhere makes it a write, because ids and the
#   storage path tail may contain any word.
class(route) := "admin" if {
	route.namespace == "admin"
} else := "manage" if {
	route.segments[0] in tables.manage_resources
} else := "write" if {
	some s in candidates(route.segments)
	tables.verbs[s] == "write"
} else := "read" if {
	some s in candidates(route.segments)
	tables.verbs[s] == "read"
} else := c if {
	c := tables.exact[lower(route.rest)]
} else := "write"

# Segments that may be the verb: all but the kind right after a typed
# resource, e.g. "trigger" in integration/trigger/list.
candidates(segments) := array.concat([segments[0]], array.slice(segments, 2, count(segments))) if {
	segments[0] in tables.typed_resources
} else := segments

verb(segments) := s[max(known)] if {
	s := candidates(segments)
	known := {i | some i, x in s; tables.verbs[x]}
	count(known) > 0
} else := segments[count(segments) - 1]

action(route) := {
	"resource": route.segments[0],
	"verb": verb(route.segments),
	"class": class(route),
}
