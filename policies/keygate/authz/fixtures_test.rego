# Runs every case in test/fixtures/policy-cases.json, the file the TypeScript
# tests also run through the compiled WASM. scripts/policy.sh loads it as
# data.fixtures.cases (and the input schema as data.fixtures.input_schema).
package keygate.authz_test

import data.keygate.authz

test_fixture_file_is_loaded if {
	count(data.fixtures.cases) >= 60
}

test_fixture_inputs_match_the_input_schema if {
	failures := {c.name: errors |
		some c in data.fixtures.cases
		[valid, errors] := json.match_schema(c.input, data.fixtures.input_schema)
		not valid
	}
	every name, errors in failures {
		print("SCHEMA", name, errors)
	}
	count(failures) == 0
}

test_fixture_cases if {
	failures := {c.name: {"want": want, "got": got} |
		some c in data.fixtures.cases
		want := normalize(c.expect)
		got := outcome(c.input, want)
		got != want
	}
	every name, f in failures {
		print("FAIL", name, f)
	}
	count(failures) == 0
}

# The decision reduced to the fields the case names.
outcome(case_input, want) := {k: summary[k] | some k, _ in want} if {
	d := authz.decision with input as case_input
	summary := {
		"allow": d.allow,
		"status": d.status,
		"code": d.code,
		"subject": d.subject,
		"actor": d.actor,
		"reasonCodes": [r.code | some r in d.reasons],
		"class": class_of(d.action),
	}
}

class_of(null) := null

class_of(action) := action.class if action != null

normalize(expect) := object.union(expect, {"reasonCodes": sort(expect.reasonCodes)}) if {
	expect.reasonCodes
} else := expect
