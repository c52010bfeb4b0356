# pkiroll check on the shipped manifests and on broken input.
. "$T_SRC/tests/lib.sh"

expect_rc 0 "$PKIROLL" check manifests/example.csv
has "$T_DIR/out" "10 rows: 10 good, 0 bad"
expect_rc 1 "$PKIROLL" check manifests/bad.csv
has "$T_DIR/out" "17 rows: 4 good, 13 bad"
for want in "bad.csv:3: community: missing required field" \
	"bad.csv:4: reference_number: duplicate" "bad.csv:6: key_type: unknown key type" \
	"bad.csv:7: subject: unparsable DN" "bad.csv:11: wrong number of fields" \
	"bad.csv:13: notes: invalid UTF-8" "bad.csv:14: authorization_code: NUL byte" \
	"bad.csv:15: notes: field longer than 4 KiB" "bad.csv:18: subject: unbalanced quote"; do
	has "$T_DIR/err" "$want"
done
grep -q 'CODE-' "$T_DIR/err" && fail "a code was printed"
expect_rc 1 "$PKIROLL" check --strict manifests/bad.csv
has "$T_DIR/out" "stopped at the first bad row"
expect_rc 2 "$PKIROLL" check "$T_DIR/nonexistent.csv"
expect_rc 2 "$PKIROLL" check
expect_rc 2 "$PKIROLL" check --delimiter x manifests/example.csv
printf 'community;reference_number;authorization_code;subject\n"a;b";1;x;"CN=A,O=B"\n' >"$T_DIR/semi.csv"
expect_rc 0 "$PKIROLL" check --delimiter ';' "$T_DIR/semi.csv"
printf 'community,authorization_code\na,b\n' >"$T_DIR/nohdr.csv"
expect_rc 2 "$PKIROLL" check "$T_DIR/nohdr.csv"
has "$T_DIR/err" 'required column "reference_number" is missing'
exit 0
