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
	every name, f in fixture_failures {
		print("FAIL", name, f)
	}
	count(fixture_failures) == 0
}

# The runner itself: a case whose decision is undefined, or lacks a field the
# case names, is a failure, never a case that silently drops out.
test_fixture_runner_fails_every_case_when_the_decision_is_undefined if {
	count(fixture_failures) == count(data.fixtures.cases) with authz.decision as {}
}

test_fixture_runner_fails_a_case_with_an_incomplete_expectation if {
	cases := [{"name": "no expect", "input": {}}, {"name": "no status", "input": {}, "expect": {"allow": false}}]
	count(fixture_failures) == 2 with data.fixtures.cases as cases
}

fixture_failures[c.name] := f if {
	some c in data.fixtures.cases
	f := case_failure(c)
}

case_failure(c) := "expect must name allow, status, code and reasonCodes" if {
	not expect_complete(c)
} else := {"want": want, "got": got} if {
	want := normalize(c.expect)
	got := outcome_or_undefined(c.input, want)
	got != want
}

expect_complete(c) if {
	every k in ["allow", "status", "code", "reasonCodes"] {
		k in object.keys(c.expect)
	}
}

outcome_or_undefined(case_input, want) := got if {
	got := outcome(case_input, want)
} else := "undefined"

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
