# One writer per store, whatever path names it; retire and import wait for
# no one and are refused while a renew runs; the store never leaves
# "retired" but by pkiroll unretire; an import --retire-missing with a
# header-only manifest retires nothing; a restored backup or another
# community's keystore at keystore.p12 is refused by renew, with nothing
# sent and nothing rewritten.
. "$T_SRC/tests/lib.sh"
trap 'stop_ca; [ -n "${RUN:-}" ] && kill -9 $RUN 2>/dev/null' EXIT
cd "$T_DIR" || exit 3
passfile
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest m.csv 6 g 61000
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca --validity 7200
URL="http://$CA_HTTP/pkix/"
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file pass; }
expect_rc 0 ks enroll m.csv --ca-url "$URL"
stop_ca

# Phase: a renew holds the store (the CA answers slowly); through a symlink
# another renew, a retire and an import are refused, and change nothing.
start_ca ca --fault delay=1500
URL="http://$CA_HTTP/pkix/"
ln -s s.db link.db
mkdir -p sub && ln s.db sub/hard.db
"$PKIROLL" --db s.db renew --community g-1 --ca-url "$URL" --keystore-dir ks \
	--keystore-pass-file pass >bg.out 2>bg.err &
RUN=$!
for _ in $(seq 100); do
	grep -q "ir\|kur" "$CA_LOG" 2>/dev/null && break
	sleep 0.05
done
expect_rc 3 "$PKIROLL" --db link.db renew --community g-1 --ca-url "$URL" --keystore-dir ks \
	--keystore-pass-file pass
has "$T_DIR/err" "in use by another pkiroll run"
expect_rc 3 "$PKIROLL" --db sub/hard.db retire g-1
has "$T_DIR/err" "in use by another pkiroll run"
expect_rc 3 "$PKIROLL" --db link.db import m.csv --retire-missing
wait $RUN || { cat bg.out bg.err; fail "the renew that held the store failed"; }
RUN=
[ "$(sqlite3 ca/ca.db "SELECT count(*) FROM transactions WHERE kind = 'kur'")" = 1 ] \
	|| fail "two renewals of one store ran at once"
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'g-1'")" = enrolled ] \
	|| fail "g-1 is not enrolled after its renewal"
stop_ca

# Phase: the store itself refuses to leave retired but by unretire.
expect_rc 0 "$PKIROLL" --db s.db retire g-2
sqlite3 s.db "UPDATE communities SET step = 'keys' WHERE name = 'g-2'"
start_ca ca
URL="http://$CA_HTTP/pkix/"
expect_rc 0 ks renew --community g-3 --ca-url "$URL"
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'g-2'")" = retired ] || fail "g-2 left retired"
expect_rc 0 "$PKIROLL" --db s.db unretire g-2 --dry-run
has "$T_DIR/out" "would be brought back"
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'g-2'")" = retired ] || fail "a dry run unretired"
expect_rc 0 "$PKIROLL" --db s.db unretire g-2
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'g-2'")" = enrolled ] || fail "g-2 not back"
expect_rc 1 "$PKIROLL" --db s.db unretire g-2
has "$T_DIR/err" "not retired"

# Phase: a header-only manifest retires nobody.
head -1 m.csv >empty.csv
expect_rc 1 "$PKIROLL" --db s.db import empty.csv --retire-missing --force
has "$T_DIR/err" "no good row"
[ "$(sqlite3 s.db "SELECT count(*) FROM communities WHERE state = 'retired'")" = 0 ] \
	|| fail "a header-only manifest retired communities"

# Phase: another community's keystore, and a restored backup, at keystore.p12.
cp ks/g-4/keystore.p12 g4.p12
cp ks/g-5/keystore.p12 ks/g-4/keystore.p12
sha_before=$(sha256sum ks/g-4/signing.pem)
expect_rc 1 ks renew --community g-4 --ca-url "$URL"
has "$T_DIR/err" "no renewal of this community was under way"
[ "$(sha256sum ks/g-4/signing.pem)" = "$sha_before" ] || fail "signing.pem rewritten from a foreign keystore"
[ "$(sqlite3 ca/ca.db "SELECT count(*) FROM transactions WHERE kind = 'kur' AND ref = '61004'")" = 0 ] \
	|| fail "a kur went out with another community's keystore"
cp g4.p12 ks/g-4/keystore.p12
# a backup from before g-3's renewal
cp ks/g-3/keystore-*.p12 ks/g-3/keystore.p12
expect_rc 1 ks renew --community g-3 --ca-url "$URL"
has "$T_DIR/err" "a restored backup"
stop_ca
# with the CA down it is refused the same way, never "renewed"
expect_rc 1 ks renew --community g-3 --ca-url "http://127.0.0.1:9/pkix/"
has "$T_DIR/out" "0 renewed"
exit 0
