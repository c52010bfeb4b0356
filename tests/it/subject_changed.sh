# A subject the CA changed (grantedWithMods, as Entrust sets it from its
# user entry) is recorded and shown by status; one it kept is not.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
printf 'code-a' >ca1
printf 'code-b' >cb1
cat >m.csv <<CSV
community,reference_number,authorization_code,subject,key_type,encryption_key_type
changed,8101,file:$T_DIR/ca1,"CN=Asked For,O=Example",p256,p256
kept,8102,file:$T_DIR/cb1,CN=kept,p256,p256
CSV
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users add --state ca --ref 8101 --code-file ca1 --subject "CN=Registered,O=Example" >/dev/null
"$PKIROLL_CA" users add --state ca --ref 8102 --code-file cb1 --subject CN=kept >/dev/null
start_ca ca
expect_rc 0 "$PKIROLL" --db s.db enroll m.csv --ca-url "http://$CA_HTTP/pkix/" --keystore-dir ks \
	--keystore-pass-file pass
grep -q "ir ref=8101 -> ip grantedWithMods" "$CA_LOG" || fail "the CA did not answer grantedWithMods"
expect_rc 0 "$PKIROLL" --db s.db status --json
got=$(jq -r '.communities[] | select(.community == "changed") | .subject + "|" + .subject_requested' "$T_DIR/out")
[ "$got" = "CN=Registered,O=Example|CN=Asked For,O=Example" ] || fail "changed: $got"
[ "$(jq -r '.communities[] | select(.community == "kept") | .subject_requested // "none"' "$T_DIR/out")" = none ] \
	|| fail "kept: a change recorded"
expect_rc 0 "$PKIROLL" --db s.db status --all
has "$T_DIR/out" "subject changed by the CA: CN=Registered,O=Example (asked for CN=Asked For,O=Example)"
[ "$(sqlite3 s.db "SELECT count(*) FROM events WHERE reason LIKE '%subject the CA changed%'")" = 1 ] \
	|| fail "no event for the changed subject"
exit 0
