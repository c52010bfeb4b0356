# End to end: 200 communities with -j 4 against pkiroll-ca over HTTP, 200
# over TCP; every keystore opens with the passphrase and holds matching
# signing and encryption keys; a rerun has nothing to do; the CA issued
# one confirmed pair per reference number.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
P12CHECK=$TOOLS/p12check
cd "$T_DIR" || exit 3
passfile
make_manifest http.csv 200 h 700000
make_manifest tcp.csv 200 t 800000
"$PKIROLL_CA" init --state ca --key-type p256 --intermediate >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca http.csv >/dev/null || fail "users http"
"$PKIROLL_CA" users import --state ca tcp.csv >/dev/null || fail "users tcp"
start_ca ca

expect_rc 0 "$PKIROLL" --db s.db enroll http.csv -j 4 --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/out" "200 due: 200 enrolled, 0 failed"
expect_rc 0 "$PKIROLL" --db s.db enroll tcp.csv -j 4 --ca-url "cmp://$CA_TCP" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/out" "200 due: 200 enrolled, 0 failed"

# every keystore: the passphrase opens it, keys match certificates
"$P12CHECK" pass ks/* >p12.out || { tail p12.out; fail "keystores"; }
grep -q "^400 keystores good, 0 bad" p12.out || { tail p12.out; fail "keystore count"; }
# and the openssl CLI reads one the way a gateway would
openssl pkcs12 -in ks/h-10/keystore.p12 -passin file:pass -nodes -out h10.pem 2>/dev/null \
	|| fail "openssl pkcs12"
[ "$(grep -c 'BEGIN PRIVATE KEY' h10.pem)" = 2 ] || fail "two keys expected in h-10"
grep -q "friendlyName: signing" h10.pem && grep -q "friendlyName: encryption" h10.pem \
	|| fail "friendly names"
for f in ks/h-10 ks/h-10/keystore.p12 ks/h-10/signing.pem; do
	m=$(stat -c %a "$f")
	case $f in *.p12|*.pem) [ "$m" = 600 ] || fail "$f mode $m" ;; *) [ "$m" = 700 ] || fail "$f mode $m" ;; esac
done
openssl verify -CAfile ca/root.pem -untrusted ca/issuing.pem ks/t-7/signing.pem ks/t-7/encryption.pem \
	>/dev/null || fail "verify t-7"

# the store agrees, and a second run has nothing to do
expect_rc 0 "$PKIROLL" --db s.db status --json
jq -e '.states.enrolled == 400 and .total == 400' "$T_DIR/out" >/dev/null || fail "status"
jq -e '[.communities[] | select(.signing.serial and .encryption.serial)] | length == 400' "$T_DIR/out" \
	>/dev/null || fail "serials"
expect_rc 0 "$PKIROLL" --db s.db enroll http.csv --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/out" "0 due"

# one confirmed signing certificate per reference number, none twice
expect_rc 0 "$PKIROLL_CA" issued --state ca
n=$(awk -F'\t' '$2 == "signing" && $3 == "confirmed" { print $4 }' "$T_DIR/out" | sort | uniq -d | wc -l)
[ "$n" = 0 ] || fail "$n reference numbers were used twice"
[ "$(awk -F'\t' '$2 == "signing" && $3 == "confirmed"' "$T_DIR/out" | wc -l)" = 400 ] || fail "issued count"

# the partner bundles of 400 communities (about 57 per partner): all in
expect_rc 0 "$PKIROLL" --db s.db bundle --out bundles
has "$T_DIR/out" "7 zips written"
has "$T_DIR/out" "(400 communities, 800 certificates)"
total=0
for z in bundles/*.zip; do
	unzip -tq "$z" >/dev/null || fail "unzip -t $z"
	total=$((total + $(unzip -Z1 "$z" | grep -c '\.cer$')))
done
[ "$total" = 800 ] || fail "$total certificates in the bundles, want 800"
exit 0
