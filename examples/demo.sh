#!/usr/bin/env bash
# What `make run` does: a fresh state directory, the bundled test CA
# (pkiroll-ca) on loopback with the example manifest's users, then the
# example manifest enrolled end to end with pkiroll, the partner bundles,
# and a renewal of one community (kur) that rebuilds its partners' bundles.
set -eu
cd "$(dirname "$0")/.."
PKIROLL=${PKIROLL:-./build/bin/pkiroll}
PKIROLL_CA=${PKIROLL_CA:-./build/bin/pkiroll-ca}
STATE=${STATE:-run}
CA_PID=

stop_ca() {
	if [ -n "$CA_PID" ]; then
		kill -TERM "$CA_PID" 2>/dev/null || true
		wait "$CA_PID" 2>/dev/null || true
		CA_PID=
	fi
}
trap stop_ca EXIT

rm -rf "$STATE"
mkdir -p "$STATE"
chmod 700 "$STATE"

echo "== the test CA: pkiroll-ca in $STATE/ca (root and issuing CA)"
"$PKIROLL_CA" init --state "$STATE/ca" --intermediate
"$PKIROLL_CA" users import --state "$STATE/ca" manifests/example.csv
"$PKIROLL_CA" serve --state "$STATE/ca" --http 127.0.0.1:0 --tcp 127.0.0.1:0 \
	>"$STATE/ca.listen" 2>"$STATE/ca.log" &
CA_PID=$!
for _ in $(seq 100); do
	[ "$(grep -c '^listening' "$STATE/ca.listen" 2>/dev/null)" = 2 ] && break
	sleep 0.05
done
HTTP=$(awk '$2 == "http" { print $3 }' "$STATE/ca.listen")
[ -n "$HTTP" ] || { cat "$STATE/ca.log"; echo "pkiroll-ca did not start"; exit 1; }
echo "   listening on http://$HTTP/pkix/ and cmp://$(awk '$2 == "tcp" { print $3 }' "$STATE/ca.listen")"

echo "== a random keystore passphrase in $STATE/keystore.pass"
(umask 077 && head -c 24 /dev/urandom | base64 >"$STATE/keystore.pass")

echo "== pkiroll enroll manifests/example.csv"
"$PKIROLL" --db "$STATE/pkiroll.db" enroll manifests/example.csv \
	--ca-url "http://$HTTP/pkix/" --keystore-dir "$STATE/keystores" \
	--keystore-pass-file "$STATE/keystore.pass"

echo "== pkiroll status"
"$PKIROLL" --db "$STATE/pkiroll.db" status

echo "== pkiroll bundle (one zip per trading partner)"
"$PKIROLL" --db "$STATE/pkiroll.db" bundle --out "$STATE/bundles"
ls -l "$STATE/bundles"

# the first community of the manifest, renewed now whatever its dates
FIRST=$(awk -F, 'NR == 2 { print $1 }' manifests/example.csv)
echo "== pkiroll renew --community $FIRST --bundle (kur, then its partners' bundles)"
"$PKIROLL" --db "$STATE/pkiroll.db" renew --community "$FIRST" --bundle \
	--bundle-dir "$STATE/bundles" --ca-url "http://$HTTP/pkix/" \
	--keystore-dir "$STATE/keystores" --keystore-pass-file "$STATE/keystore.pass"
stop_ca
ls -l "$STATE/bundles" "$STATE/keystores/$FIRST"

echo "== pkiroll cem --community $FIRST --sign (certificate exchange requests for its partners)"
"$PKIROLL" --db "$STATE/pkiroll.db" cem --community "$FIRST" --sign --out "$STATE/cem" \
	--response-url https://as2.example.com/cem --keystore-dir "$STATE/keystores" \
	--keystore-pass-file "$STATE/keystore.pass"
ls -l "$STATE"/cem/*

cat <<MSG

Done. Everything is under $STATE/:
  store       $STATE/pkiroll.db        (pkiroll --db $STATE/pkiroll.db status)
  keystores   $STATE/keystores/NAME/   (keystore.p12, signing/encryption .pem/.cer, chain.pem;
                                       after a renewal keystore-OLDSERIAL.p12 too)
  passphrase  $STATE/keystore.pass     (openssl pkcs12 -in ... -passin file:$STATE/keystore.pass)
  bundles     $STATE/bundles/PARTNER.zip  (certificates, CA chain, fingerprints.txt/.html/.csv,
                                          README.txt, SHA256SUMS)
  CEM         $STATE/cem/PARTNER/COMMUNITY-REQUESTID.mime and .xml (signed with the old key)
  test CA     $STATE/ca/               (pkiroll-ca issued --state $STATE/ca)
MSG
