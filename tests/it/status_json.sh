# status --json is JSON with the documented keys.
. "$T_SRC/tests/lib.sh"
command -v jq >/dev/null || { echo "jq is not installed (make deps)"; exit 77; }

db=$T_DIR/s.db
expect_rc 0 "$PKIROLL" --db "$db" import manifests/example.csv
expect_rc 0 "$PKIROLL" --db "$db" status --json
jq -e '.total == 10 and (.communities | length) == 10 and .states.pending == 10 and .states.enrolled == 0
	and (.attention | length) == 0 and (.expiring | length) == 0
	and .expiring_days == 30' "$T_DIR/out" >/dev/null || { cat "$T_DIR/out"; fail "status --json"; }
expect_rc 0 "$PKIROLL" --db "$db" status --json --days 7
jq -e '.expiring_days == 7' "$T_DIR/out" >/dev/null || fail "--days not in JSON"
exit 0
