# METADATA
# title: Routes
# description: |
#   Turns a request (method and path) into an action {resource, verb, class}.
#   The class is the stricter of the path's and the method's: DELETE, PUT,
#   PATCH and every method not listed are writes whatever the path says;
#   the listed ones (GET, HEAD, OPTIONS, POST) take the path's class, as the
#   API reads with POST too. Tables live in data.keygate.routes.
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
#   The path's class. Fail-safe: one write verb anywhere makes it a write,
#   because ids and the storage path tail may contain any word; it is a read
#   only when the word in the verb's position is a read verb, and a verb the
#   tables do not know is a write.
class(route) := "admin" if {
	route.namespace == "admin"
} else := "manage" if {
	route.segments[0] in tables.manage_resources
} else := "write" if {
	some s in candidates(route.segments)
	tables.verbs[s] == "write"
} else := "read" if {
	tables.verbs[verb(route.segments)] == "read"
} else := c if {
	c := tables.exact[lower(route.rest)]
} else := "write"

# Segments that may be a write verb: all but the kind right after a typed
# resource, e.g. "trigger" in integration/trigger/list.
candidates(segments) := array.concat([segments[0]], array.slice(segments, 2, count(segments))) if {
	segments[0] in tables.typed_resources
} else := segments

# METADATA
# description: |
#   The word in the verb's position: the segment after the first path-tail
#   resource (storage/<verb>/<path…>), else the last segment.
verb(segments) := v if {
	tails := [i | some i, s in segments; i > 0; s in tables.path_tails]
	v := segments[tails[0] + 1]
} else := segments[count(segments) - 1]

# METADATA
# description: The class of a method; "path" for those that take the path's class.
method_class(method) := "path" if {
	method in tables.path_class_methods
} else := "write"

rank := {"read": 0, "write": 1, "manage": 2, "admin": 3}

# "path" has no rank: the path's class stands.
stricter(a, b) := b if {
	rank[b] > rank[a]
} else := a

# METADATA
# description: "{resource, verb, class} of a parsed route under an HTTP method (upper case)."
action(route, method) := {
	"resource": route.segments[0],
	"verb": verb(route.segments),
	"class": stricter(class(route), method_class(method)),
}
