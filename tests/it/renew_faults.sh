# Renewal under faults: a dropped connection, HTTP 500, garbage, a
# rejection and a reply whose signature fails each leave the old keystore
# and certificates in place and the community retryable; a revoked
# certificate ends in needs_codes. kill -9 of a worker and of the parent
# during a renewal run, then a rerun: every community renewed exactly once,
# no keystore lost.
. "$T_SRC/tests/lib.sh"
trap 'stop_ca; [ -n "${RUN:-}" ] && kill -9 $RUN 2>/dev/null' EXIT
cd "$T_DIR" || exit 3
passfile
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest m.csv 24 r 50000
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
# no in-run retries: each fault is seen once
printf '[ca t]\nurl = http://127.0.0.1:9/pkix/\nretries = 0\n' >c.conf
ks() { "$PKIROLL" --db s.db --config c.conf "$@" --keystore-dir ks --keystore-pass-file pass; }
# enrolled for 2 hours, renewed for a year: a 3-hour window selects each
# community until it is renewed, and never again
start_ca ca --validity 7200
expect_rc 0 ks enroll m.csv --ca-url "http://$CA_HTTP/pkix/"
stop_ca
# what must not change when a renewal fails
snapshot() {
	for i in $(seq 1 24); do sha256sum ks/r-$i/keystore.p12; done
	sqlite3 s.db "SELECT community_id, usage, serial FROM certificates WHERE superseded_by IS NULL ORDER BY 1, 2"
}

# Phase: each fault, against r-1 and r-2; nothing changes, they stay retryable.
snapshot >before
for f in drop http500 garbage reject=badRequest wrongmac; do
	start_ca ca --fault "$f"
	URL="http://$CA_HTTP/pkix/"
	ks renew --community r-1 --community r-2 --ca-url "$URL" >out.$f 2>err.$f
	rc=$?
	stop_ca
	[ "$rc" = 1 ] || { cat out.$f err.$f; fail "$f: exit $rc, want 1"; }
	grep -q "0 renewed" out.$f || { cat out.$f; fail "$f: something was renewed"; }
	snapshot | cmp -s before - || fail "$f: a keystore or the current certificates changed"
	ls ks/r-1/keystore.p12.staged 2>/dev/null && fail "$f: a staged keystore was left"
	[ "$(sqlite3 s.db "SELECT state || retryable FROM communities WHERE name = 'r-1'")" = enrolled1 ] \
		|| fail "$f: r-1 is not enrolled and retryable"
	sqlite3 s.db "SELECT reason FROM communities WHERE name = 'r-1'" | grep -q "renewal failed" \
		|| fail "$f: no reason recorded"
done
# the backoff holds the failed ones back from a plain run; the date itself stays
start_ca ca --fault delay=400
URL="http://$CA_HTTP/pkix/"
expect_rc 0 ks renew --ca-url "$URL" --within 3h --now --dry-run
[ "$(grep -c 'would renew' "$T_DIR/err")" = 22 ] || fail "the failed ones were not held back by the backoff"

# Phase: kill -9 of a worker during a renewal run; the run finishes.
bg_renew() { "$PKIROLL" --db s.db --config c.conf renew --within 3h --now -j 4 --ca-url "$URL" \
	--keystore-dir ks --keystore-pass-file pass --limit "$1" >"$2.out" 2>"$2.err" & RUN=$!; }
bg_renew 8 w
sleep 0.8
w=$(pgrep -P $RUN | head -1)
[ -n "$w" ] || fail "no worker to kill"
kill -9 "$w"
wait $RUN
rc=$?
RUN=
[ "$rc" = 0 ] || { cat w.out w.err; fail "renewal with a killed worker exited $rc"; }
grep -q "8 renewed" w.out || { cat w.out w.err; fail "not 8 renewed after a worker died"; }

# Phase: kill -9 of the parent mid-run, then a rerun finishes the rest.
bg_renew 100 p
sleep 1.5
kill -9 $RUN
wait $RUN 2>/dev/null
RUN=
for _ in $(seq 50); do pgrep -f "renew --within 3h" >/dev/null || break; sleep 0.1; done
ks renew --within 3h --now -j 4 --ca-url "$URL" >rerun.out 2>rerun.err \
	|| { cat rerun.out rerun.err; fail "the rerun after the parent's crash failed"; }
stop_ca
start_ca ca
URL="http://$CA_HTTP/pkix/"
# whatever is left (r-1, r-2 held back; ones the crash left open) settles now
ks renew --ca-url "$URL" --community r-1 --community r-2 >/dev/null 2>&1
expect_rc 0 "$PKIROLL" --db s.db status --json
jq -e '.states.enrolled == 24' "$T_DIR/out" >/dev/null || { jq .states "$T_DIR/out"; fail "not all enrolled"; }
# exactly one renewal each: one replaced signing certificate per community,
# and the keystore holds the store's current one
for i in $(seq 1 24); do
	n=$(sqlite3 s.db "SELECT count(*) FROM certificates x JOIN communities c ON c.id = x.community_id
		WHERE c.name = 'r-$i' AND x.usage = 'signing' AND x.superseded_by IS NOT NULL")
	[ "$n" = 1 ] || fail "r-$i renewed $n times"
	cur=$(sqlite3 s.db "SELECT x.serial FROM certificates x JOIN communities c ON c.id = x.community_id
		WHERE c.name = 'r-$i' AND x.usage = 'signing' AND x.superseded_by IS NULL")
	ks_serial=$(openssl pkcs12 -in ks/r-$i/keystore.p12 -passin file:pass -nokeys 2>/dev/null \
		| awk '/friendlyName: signing/,/END CERTIFICATE/' | openssl x509 -noout -serial | cut -d= -f2)
	[ "$cur" = "$ks_serial" ] || fail "r-$i: keystore holds $ks_serial, the store $cur"
	[ ! -e ks/r-$i/keystore.p12.staged ] || fail "r-$i: a staged keystore was left"
done
# the CA confirmed exactly 24 renewals
[ "$(sqlite3 ca/ca.db "SELECT count(*) FROM transactions WHERE kind = 'kur' AND state = 'confirmed'")" = 24 ] \
	|| fail "the CA confirmed $(sqlite3 ca/ca.db "SELECT count(*) FROM transactions WHERE kind = 'kur' AND state = 'confirmed'") kur, want 24"

# Phase: a revoked certificate needs new codes.
openssl pkcs12 -in ks/r-3/keystore.p12 -passin file:pass -nocerts -nodes 2>/dev/null \
	| awk '/friendlyName: signing/,/END PRIVATE KEY/' | openssl pkey -out k3.pem 2>/dev/null
openssl cmp -cmd rr -server "$CA_HTTP" -path pkix/ -cert ks/r-3/signing.pem -key k3.pem \
	-trusted ca/root.pem -oldcert ks/r-3/signing.pem -revreason 1 >rr.out 2>&1 || { cat rr.out; fail "rr"; }
expect_rc 1 ks renew --ca-url "$URL" --community r-3
has "$T_DIR/out" "1 need new codes"
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'r-3'")" = needs_codes ] || fail "r-3 not needs_codes"
sqlite3 s.db "SELECT reason FROM communities WHERE name = 'r-3'" | grep -q "refused to renew" \
	|| fail "r-3: the reason does not say the CA refused"
exit 0
