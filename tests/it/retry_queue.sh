# A retry queued after the manifest is exhausted is sent: with two workers
# the idle one learns early that the manifest has no more rows, yet the
# retries of a transient fault (HTTP 500) still go out, and the CA sees
# each one the summary counts.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
printf 'code-1' >c1
echo "community,reference_number,authorization_code,partners,subject,key_type" >m.csv
echo "one,8801,file:$T_DIR/c1,Partner A,CN=one,p256" >>m.csv
"$PKIROLL_CA" users add --state ca --ref 8801 --code-file c1 --subject CN=one --fault http500 \
	>/dev/null || fail "users add"
start_ca ca
printf '[ca t]\nurl = http://%s/pkix/\nretries = 2\n' "$CA_HTTP" >c.conf
expect_rc 1 "$PKIROLL" --db s.db --config c.conf enroll m.csv -j 2 --keystore-dir ks \
	--keystore-pass-file pass
has "$T_DIR/out" "2 retries"
sent=$(grep -c 'ir ref=8801' "$CA_LOG")
[ "$sent" = 3 ] || { cat "$CA_LOG"; fail "the CA saw $sent ir, want 3 (the first and 2 retries)"; }
[ "$(sqlite3 s.db "SELECT state || retryable FROM communities WHERE name = 'one'")" = failed1 ] \
	|| fail "one: not failed and retryable"
exit 0
