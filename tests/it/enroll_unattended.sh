# Unattended runs end, and say what failed (issue 9, R1 R2): a tripped
# circuit breaker ends the run with the rest skipped; transient failures
# are retried in the run as the profile says, and a run that ends with a
# community not enrolled exits 1 and counts it.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
make_manifest m.csv 10 m 3000
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"

# R1: every request fails; the breaker trips; the run ends (timeout guards
# the old hang) and exits 1, every community counted
start_ca ca --fault http500
expect_rc 1 timeout 60 "$PKIROLL" --db r1.db enroll m.csv -j 2 --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks1 --keystore-pass-file pass
has "$T_DIR/err" "paused for the rest of this run"
has "$T_DIR/err" "skipped: its CA profile is paused"
read -r due failed skipped <<<"$(sed -n 's/.*, \([0-9]*\) due: 0 enrolled, \([0-9]*\) failed, 0 need new codes, \([0-9]*\) skipped.*/\1 \2 \3/p' "$T_DIR/out")"
[ -n "$due" ] || fail "no summary: $(cat "$T_DIR/out")"
[ "$failed" = "$due" ] || fail "due $due but failed $failed: $(cat "$T_DIR/out")"
[ $((failed + skipped)) = 10 ] || fail "communities not counted: $(cat "$T_DIR/out")"
stop_ca

# R2: two users answer HTTP 500; with retries = 2 each is sent 3 times
# (the first try and two in-run retries), the others enroll, exit 1
"$PKIROLL_CA" users add --state ca --ref 3002 --code-file codes/m-2 --subject CN=m2 --fault http500 >/dev/null || fail "add"
"$PKIROLL_CA" users add --state ca --ref 3005 --code-file codes/m-5 --subject CN=m5 --fault http500 >/dev/null || fail "add"
start_ca ca
cat >r2.conf <<CONF
[ca test]
url = http://$CA_HTTP/pkix/
retries = 2
circuit_breaker = 50
CONF
expect_rc 1 timeout 120 "$PKIROLL" --config r2.conf --db r2.db enroll m.csv -j 2 \
	--keystore-dir ks2 --keystore-pass-file pass
has "$T_DIR/out" "10 due: 8 enrolled, 2 failed, 0 need new codes, 0 skipped, 4 retries"
for ref in 3002 3005; do
	n=$(grep -c "ir ref=$ref" ca.log)
	[ "$n" = 3 ] || fail "reference $ref: the CA saw $n ir, want 3 (1 + 2 retries)"
done
expect_rc 0 "$PKIROLL" --db r2.db status --json
[ "$(jq '[.communities[] | select(.state == "failed")] | length' "$T_DIR/out")" = 2 ] || fail "not 2 failed in the store"

# a -j above the profile's concurrency is capped, and the run says so
cat >cap.conf <<CONF
[ca capped]
url = http://$CA_HTTP/pkix/
concurrency = 2
CONF
expect_rc 1 timeout 120 "$PKIROLL" --config cap.conf --db cap.db enroll m.csv -j 64 --limit 1 \
	--keystore-dir ks3 --keystore-pass-file pass
has "$T_DIR/err" "64 workers asked for, 2 used: CA profile capped allows 2 at once"
exit 0
