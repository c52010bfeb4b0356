# One passphrase per store: the first enrollment records a verifier of the
# keystore passphrase (PBKDF2-HMAC-SHA256, its salt, iterations and
# algorithm; never the passphrase). Then enroll, renew, revoke, export p12,
# ping with a keystore and cem --sign under another passphrase stop at
# once: exit 2, the message, nothing sent to the CA, nothing written. A
# store from before the verifier (none recorded) takes the passphrase that
# opens one of its keystores, and refuses another without recording it.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest m.csv 3 g 82000
make_manifest more.csv 5 g 82000
"$PKIROLL_CA" users import --state ca more.csv >/dev/null || fail "users"
printf 'the-right-one' >pass
printf 'another-one' >wrong
start_ca ca
URL="http://$CA_HTTP/pkix/"
run() {
	local p=$1
	shift
	"$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file "$p"
}
MSG="the keystore passphrase does not match the one this store's keystores use; see pkiroll rekey-keystores"

# Phase: the first enrollment records the verifier.
expect_rc 0 run pass enroll m.csv --ca-url "$URL"
[ "$(sqlite3 s.db "SELECT role, algorithm, iterations >= 100000, length(salt), length(verifier)
	FROM keystore_passphrase")" = "current|PBKDF2-HMAC-SHA256|1|16|32" ] \
	|| { sqlite3 s.db "SELECT * FROM keystore_passphrase"; fail "no verifier after the first enrollment"; }
grep -qa "the-right-one" s.db && fail "the passphrase is in the store"
expect_rc 0 run pass renew --ca-url "$URL" --community g-1 --now

# Phase: every command under another passphrase stops: exit 2, nothing
# sent, nothing written.
snapshot() {
	sqlite3 s.db .dump
	find ks -type f | sort | xargs sha256sum
	wc -l <"$CA_LOG"
	ls -R out 2>/dev/null
}
snapshot >before
refused() {
	expect_rc 2 "$@"
	has "$T_DIR/err" "$MSG"
	snapshot >after
	cmp -s before after || { diff before after | head; fail "$* changed something or reached the CA"; }
}
refused run wrong enroll more.csv --ca-url "$URL"
refused run wrong renew --ca-url "$URL" --now
refused run wrong revoke g-2 --reason keyCompromise --yes --ca-url "$URL"
refused run wrong retire g-2 --revoke --reason keyCompromise --yes --ca-url "$URL"
printf 'out-pass' >outpass
refused run wrong export g-2 --format p12 --out g-2.p12 --out-pass-file outpass
[ -e g-2.p12 ] && fail "export under the wrong passphrase wrote a file"
refused run wrong ping --ca-url "$URL" --community g-2
refused run wrong cem --sign --out out --response-url https://gw.example/cem
PKIROLL_KEYSTORE_PASS=another-one expect_rc 2 "$PKIROLL" --db s.db renew --ca-url "$URL" --now --keystore-dir ks
has "$T_DIR/err" "$MSG"
# the right one still runs
expect_rc 0 run pass enroll more.csv --ca-url "$URL"
has "$T_DIR/out" "2 enrolled"
expect_rc 0 run pass ping --ca-url "$URL" --community g-2

# Phase: a store from before the verifier. Another passphrase: refused,
# naming the keystore it does not open, nothing recorded; the right one:
# recorded, and from then on checked as above.
sqlite3 s.db "DELETE FROM keystore_passphrase" || fail "sqlite3"
snapshot >before
expect_rc 2 run wrong renew --ca-url "$URL" --now
has "$T_DIR/err" "the keystore passphrase does not open ks/"
has "$T_DIR/err" "see pkiroll rekey-keystores"
snapshot >after
cmp -s before after || fail "a refused passphrase changed the store"
expect_rc 0 run pass renew --ca-url "$URL" --community g-3 --now
[ "$(sqlite3 s.db "SELECT count(*) FROM keystore_passphrase WHERE role = 'current'")" = 1 ] \
	|| fail "the passphrase that opened a keystore was not recorded"
expect_rc 2 run wrong renew --ca-url "$URL" --now
has "$T_DIR/err" "$MSG"
exit 0
